"""Pieces the migrations share: the id column, the foreign keys of 0022 and their clean-up."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from alembic import op

log = logging.getLogger("ccmap.migrations")


def id_column() -> sa.Column[int]:
    """The integer primary key every table of rows starts with."""
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def create_by_pair(name: str, keys: tuple[str, str], value: str, fill: str | None = None
                   ) -> None:
    """Create a table of one integer per pair of integers (its key), filled with the rows of
    the query `fill` if given."""
    op.create_table(name,
                    *[sa.Column(k, sa.Integer, primary_key=True, autoincrement=False)
                      for k in keys],
                    sa.Column(value, sa.Integer, nullable=False))
    if fill:
        op.execute(f"INSERT INTO {name} ({', '.join(keys)}, {value}) {fill}")


def is_postgres() -> bool:
    """Whether the migration runs on PostgreSQL (else SQLite)."""
    return op.get_bind().dialect.name == "postgresql"


class ForeignKey(NamedTuple):
    """table.column references refers.id; what a delete of the referred row does."""

    table: str
    column: str
    refers: str
    ondelete: str | None  # CASCADE | SET NULL | RESTRICT | None: checked at commit (deferred)
    deferred: bool = False

    @property
    def name(self) -> str:
        """The constraint's name (alembic's batch mode needs one)."""
        return f"fk_{self.table}_{self.column}"

    def referred(self) -> str:
        """The referred table: on PostgreSQL an issue is referred to by its row in issue_keys
        (the partitioned issues table has no unique key on id alone, 0013)."""
        return "issue_keys" if self.refers == "issues" and is_postgres() else self.refers

    def options(self) -> dict[str, Any]:
        """What a delete of the referred row does, and when the key is checked."""
        return {"ondelete": self.ondelete, "deferrable": self.deferred or None,
                "initially": "DEFERRED" if self.deferred else None}

    def orphans_fixed(self) -> int:
        """Delete (CASCADE, RESTRICT) or set to NULL the rows whose reference points nowhere,
        in one statement; how many."""
        col = f"{self.table}.{self.column}"
        where = (f"{col} IS NOT NULL AND NOT EXISTS "
                 f"(SELECT 1 FROM {self.referred()} r WHERE r.id = {col})")
        if self.ondelete in ("CASCADE", "RESTRICT"):
            sql = f"DELETE FROM {self.table} WHERE {where}"
        else:
            sql = f"UPDATE {self.table} SET {self.column} = NULL WHERE {where}"
        return int(op.get_bind().execute(sa.text(sql)).rowcount or 0)


def replace_tile_indexes(cell_columns: list[str], tile_include: list[str]) -> None:
    """Make the issue tiles' covering indexes again with these columns: ix_issues_cells on
    both backends, ix_issues_tile (lon, lat) INCLUDE (tile_include) on PostgreSQL."""
    op.drop_index("ix_issues_cells", "issues")
    op.create_index("ix_issues_cells", "issues", cell_columns)
    if is_postgres():
        op.drop_index("ix_issues_tile", "issues")
        op.create_index("ix_issues_tile", "issues", ["lon", "lat"],
                        postgresql_include=tile_include)
    else:
        sample_index_again("ix_issues_cells")


def sample_index_again(index: str) -> None:
    """SQLite: the statistics of an index just made again, when the database had statistics
    (DROP INDEX deletes the index's row of sqlite_stat1, and the planner guesses for it until
    the next store.analyze), sampled as store.analyze samples them (1 ms at 1M issues)."""
    bind = op.get_bind()
    if bind.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'").first():
        bind.exec_driver_sql("PRAGMA analysis_limit = 1000")
        bind.exec_driver_sql(f"ANALYZE {index}")


def fix_orphans(keys: list[ForeignKey], revision: str) -> dict[str, int]:
    """Clear every reference that points nowhere (see ForeignKey.orphans_fixed); when there
    were any, say how many in the log and in an audit row."""
    fixed = {f"{k.table}.{k.column}": n for k in keys if (n := k.orphans_fixed())}
    if fixed:
        log.warning("migration %s: references to missing rows cleared: %s", revision, fixed)
        audit = sa.table("audit", sa.column("at", sa.DateTime), sa.column("actor", sa.String),
                         sa.column("action", sa.String), sa.column("object_type", sa.String),
                         sa.column("object_id", sa.String), sa.column("diff", sa.JSON))
        op.get_bind().execute(audit.insert().values(
            at=datetime.now(), actor="migration", action="clear_orphans", object_type="store",
            object_id=revision, diff={"orphans": fixed}))
    return fixed


def add_foreign_keys(keys: list[ForeignKey]) -> None:
    """Add the foreign keys: ALTER TABLE on PostgreSQL, a copy of each table on SQLite
    (alembic's batch mode keeps its indexes and triggers). SQLite must run this with foreign
    keys off (SqlStore.migrate does): dropping the old copy of a referred table would delete
    its children."""
    _alter_keys(keys, add=True)


def drop_foreign_keys(keys: list[ForeignKey]) -> None:
    """Drop the foreign keys add_foreign_keys made."""
    _alter_keys(keys, add=False)


def _alter_keys(keys: list[ForeignKey], add: bool) -> None:
    postgres = is_postgres()
    if not postgres:
        check_sqlite_foreign_keys_off()
    for table in dict.fromkeys(k.table for k in keys):
        mine = [k for k in keys if k.table == table]
        if postgres:
            for k in mine:
                if add:
                    op.create_foreign_key(k.name, table, k.referred(), [k.column], ["id"],
                                          **k.options())
                else:
                    op.drop_constraint(k.name, table, type_="foreignkey")
            continue
        with op.batch_alter_table(table, recreate="always") as batch:
            for k in mine:
                if add:
                    batch.create_foreign_key(k.name, k.refers, [k.column], ["id"], **k.options())
                else:
                    batch.drop_constraint(k.name, type_="foreignkey")


def check_sqlite_foreign_keys_off() -> None:
    """Refuse to copy SQLite tables while foreign keys are enforced (their actions would
    delete or change rows when the old copy is dropped)."""
    if op.get_bind().exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("SQLite tables are copied with foreign keys on: migrate through "
                           "SqlStore.migrate, which turns them off while it runs")


def required(**types: Any) -> list[sa.Column[Any]]:
    """NOT NULL columns (name=type), in the order given."""
    return [sa.Column(name, type_, nullable=False) for name, type_ in types.items()]


def optional(**types: Any) -> list[sa.Column[Any]]:
    """Columns that may hold NULL (name=type), in the order given."""
    return [sa.Column(name, type_) for name, type_ in types.items()]
