"""Storage behind one interface: `open_store(url)` returns a Store for SQLite or PostGIS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from geo.features import Feature, Issue
from geo.kinds import Kind

BBox = tuple[float, float, float, float]


class Store(Protocol):
    """What the rest of ccmap may ask of storage. Every call that writes is one transaction."""

    url: str

    def add_features(self, features: Sequence[Feature]) -> list[int]:
        """Insert features atomically; return their new ids in order."""
        ...

    def features(
        self,
        kind: Kind,
        bbox: BBox | None = None,
        limit: int | None = None,
        where: dict[str, Any] | None = None,
    ) -> list[Feature]:
        """Features of one kind, optionally inside bbox and matching property values."""
        ...

    def feature(self, feature_id: int) -> Feature:
        """One feature by id; raises NotFound."""
        ...

    def layer_counts(self) -> dict[str, int]:
        """Number of features per kind (kinds with none are omitted)."""
        ...

    def extent(self) -> BBox | None:
        """Bounding box of every stored feature, or None when there are none."""
        ...

    def add_issues(self, issues: Sequence[Issue]) -> list[int]:
        """Insert issues atomically; return their new ids in order."""
        ...

    def issues(
        self,
        bbox: BBox | None = None,
        limit: int | None = None,
        status: str | None = None,
        category: str | None = None,
    ) -> list[Issue]:
        """Issues, optionally inside bbox and filtered by status and category."""
        ...

    def issue_count(self) -> int:
        """Number of stored issues."""
        ...

    def clear(self) -> None:
        """Delete every feature and issue (used to rebuild the demo)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def open_store(url: str) -> Store:
    """Open (and migrate to the latest schema) the store at a sqlite:/// or postgresql:// URL."""
    from geo.store.sql import SqlStore

    return SqlStore(url)
