"""SQLAlchemy implementation of Store for SQLite files and PostgreSQL + PostGIS."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import shapely
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ColumnElement,
    Engine,
    create_engine,
    delete,
    event,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.engine import Row, make_url

from geo.errors import InvalidInput, NotFound
from geo.features import Feature, Issue
from geo.kinds import Kind
from geo.store import BBox
from geo.store.schema import features as features_t
from geo.store.schema import issues as issues_t

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
ISSUE_FIELDS = [c.name for c in issues_t.columns if c.name != "id"]


def engine_url(url: str) -> str:
    """Normalise a user-facing database URL to the SQLAlchemy driver we use."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith(("sqlite:///", "postgresql+psycopg://")):
        return url
    raise InvalidInput(
        f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://USER@HOST/DB"
    )


class SqlStore:
    """Store on SQLite (WKB + bbox columns) or PostGIS (generated geometry + GiST)."""

    def __init__(self, url: str) -> None:
        self.url = url
        sa_url = engine_url(url)
        if sa_url.startswith("sqlite:///"):
            db_path = make_url(sa_url).database
            if db_path and db_path != ":memory:":
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(sa_url)
        self.postgis = self.engine.dialect.name == "postgresql"
        if not self.postgis:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.migrate()

    def migrate(self) -> None:
        """Bring the schema to the latest migration."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    # --- features -------------------------------------------------------------------------
    def add_features(self, features: Sequence[Feature]) -> list[int]:
        """Insert features in one transaction; return their ids."""
        rows = [_feature_row(f) for f in features]
        if not rows:
            return []
        with self.engine.begin() as conn:
            result = conn.execute(insert(features_t).returning(features_t.c.id), rows)
            return [r[0] for r in result]

    def features(
        self,
        kind: Kind,
        bbox: BBox | None = None,
        limit: int | None = None,
        where: dict[str, Any] | None = None,
    ) -> list[Feature]:
        """Features of one kind, filtered by bbox and property values."""
        q = select(features_t).where(features_t.c.kind == kind.value).order_by(features_t.c.id)
        if bbox is not None:
            q = q.where(self._bbox_clause(bbox))
        for key, value in (where or {}).items():
            if key in ("name", "category"):
                q = q.where(features_t.c[key] == value)
            else:
                q = q.where(features_t.c.properties[key].as_string() == str(value))
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [_feature_from_row(r) for r in conn.execute(q)]

    def feature(self, feature_id: int) -> Feature:
        """One feature by id."""
        with self.engine.connect() as conn:
            row = conn.execute(select(features_t).where(features_t.c.id == feature_id)).first()
        if row is None:
            raise NotFound(f"feature {feature_id} does not exist")
        return _feature_from_row(row)

    def layer_counts(self) -> dict[str, int]:
        """Feature count per kind."""
        q = select(features_t.c.kind, func.count()).group_by(features_t.c.kind)
        with self.engine.connect() as conn:
            return {kind: n for kind, n in conn.execute(q)}

    def extent(self) -> BBox | None:
        """Bounding box of all features."""
        c = features_t.c
        q = select(func.min(c.minx), func.min(c.miny), func.max(c.maxx), func.max(c.maxy))
        with self.engine.connect() as conn:
            row = conn.execute(q).one()
        return None if row[0] is None else (row[0], row[1], row[2], row[3])

    def _bbox_clause(self, bbox: BBox) -> ColumnElement[bool]:
        minx, miny, maxx, maxy = bbox
        if self.postgis:
            env = func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)
            return literal_column("features.geom").op("&&")(env)
        c = features_t.c
        return (c.maxx >= minx) & (c.minx <= maxx) & (c.maxy >= miny) & (c.miny <= maxy)

    # --- issues ---------------------------------------------------------------------------
    def add_issues(self, issues: Sequence[Issue]) -> list[int]:
        """Insert issues in one transaction; return their ids."""
        rows = [{k: getattr(i, k) for k in ISSUE_FIELDS} for i in issues]
        if not rows:
            return []
        with self.engine.begin() as conn:
            result = conn.execute(insert(issues_t).returning(issues_t.c.id), rows)
            return [r[0] for r in result]

    def issues(
        self,
        bbox: BBox | None = None,
        limit: int | None = None,
        status: str | None = None,
        category: str | None = None,
    ) -> list[Issue]:
        """Issues filtered by bbox, status and category, oldest id first."""
        c = issues_t.c
        q = select(issues_t).order_by(c.id)
        if bbox is not None:
            minx, miny, maxx, maxy = bbox
            if self.postgis:
                env = func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)
                q = q.where(literal_column("issues.geom").op("&&")(env))
            else:
                q = q.where(c.lon.between(minx, maxx) & c.lat.between(miny, maxy))
        if status:
            q = q.where(c.status == status)
        if category:
            q = q.where(c.category == category)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [Issue(**row._mapping) for row in conn.execute(q)]

    def issue_count(self) -> int:
        """Number of issues."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(issues_t)).scalar_one())

    def clear(self) -> None:
        """Delete all features and issues in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(delete(issues_t))
            conn.execute(delete(features_t))

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _feature_row(f: Feature) -> dict[str, Any]:
    minx, miny, maxx, maxy = f.geometry.bounds
    return {
        "kind": Kind(f.kind).value,
        "name": f.name or "",
        "category": f.category,
        "source_id": f.source_id,
        "properties": f.properties or {},
        "wkb": shapely.to_wkb(f.geometry),
        "minx": minx,
        "miny": miny,
        "maxx": maxx,
        "maxy": maxy,
    }


def _feature_from_row(row: Row[Any]) -> Feature:
    m = row._mapping
    return Feature(
        id=m["id"],
        kind=Kind(m["kind"]),
        name=m["name"],
        category=m["category"],
        source_id=m["source_id"],
        properties=dict(m["properties"] or {}),
        geometry=shapely.from_wkb(m["wkb"]),
    )
