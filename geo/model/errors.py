"""Domain error types; server/errors.py maps each to an HTTP status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class CcmapError(Exception):
    """Base class of every error ccmap reports to a user."""

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class NotFound(CcmapError):
    """The requested object does not exist (or is outside the caller's scope)."""


class InvalidInput(CcmapError):
    """A request or file is malformed as a whole (bad parameter, unreadable file, unknown kind)."""


class InvalidPeriod(InvalidInput):
    """A reporting period that is not one (geo/analytics/periods.py): the reason and the
    syntax; answered like a field error (HTTP 422)."""


class TooLarge(CcmapError):
    """An upload exceeds the configured size limit."""


class UnsafeFile(CcmapError):
    """A user's file is refused: wrong or disguised format, or it refers to other files/URLs."""


class LimitExceeded(CcmapError):
    """Content passes a configured limit (rows, features, vertices, pixels, unpacked bytes)."""


class InvalidGeometry(CcmapError):
    """Coordinates sent to the API are not finite lon/lat degrees, or a ring is not closed."""


class Unauthorized(CcmapError):
    """No valid credentials were given."""


class Forbidden(CcmapError):
    """The actor is known but its role or scope does not allow this."""


class Locked(CcmapError):
    """The account is locked after repeated failed logins."""


class TooManyRequests(CcmapError):
    """Too many attempts of something rate-limited (e.g. password changes); retry later."""


class Conflict(CcmapError):
    """The change conflicts with the current state (illegal transition, stale version)."""


@dataclass
class RowProblem:
    """One problem found in one row/feature of an imported file."""

    row: int
    reason: str
    column: str | None = None
    severity: str = "error"  # "error" rejects the row; "warning" keeps it (e.g. repaired geometry)
    hint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        out: dict[str, Any] = {"row": self.row, "column": self.column, "reason": self.reason}
        out["severity"] = self.severity
        if self.hint:
            out["hint"] = self.hint
        return out


@dataclass
class ImportRejected(CcmapError):
    """A whole file was refused; nothing was written. Carries the row-level report."""

    message: str
    problems: list[RowProblem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.message, problems=[p.as_dict() for p in self.problems])
