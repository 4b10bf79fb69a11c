"""The migrations make the schema; geo/store/schema.py, which the queries are written against,
must describe what they made. Alembic's own comparison finds no difference on either backend
beyond the few that are backend-specific by design (listed here, so that a new difference, or
one of these going away, fails the test)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from shapely.geometry import Point
from sqlalchemy import inspect, text

from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.store import Store
from geo.store.schema import metadata

REFERS_TO_ISSUE = ["issue_history.issue_id", "issue_photos.issue_id", "reinspections.issue_id",
                   "issues.duplicate_of", "issues.recurring_of", "extensions.issue_id"]
PARTITION = re.compile(r"^issues_(\d{4}_\d{2}|default)$")  # PostGIS: issues by month (0013)
BY_DESIGN = {
    "sqlite": {("add_table", "issue_keys")},  # the PostGIS partitions' key table
    "postgis": {
        # computed geometry columns and their GiST indexes, for ST_AsMVT and && on PostGIS
        ("remove_column", "features.geom"), ("remove_index", "ix_features_geom"),
        ("remove_column", "issues.geom"), ("remove_index", "ix_issues_geom"),
        # the partitioned table's own indexes (0013-0015) in place of SQLite's lon/lat one
        ("remove_index", "ix_issues_id"), ("remove_index", "ix_issues_tile"),
        ("remove_index", "ix_issues_times_brin"), ("add_index", "ix_issues_lonlat"),
        # external ids are unique through issue_keys (a partitioned table cannot hold it)
        ("add_constraint", "issues.external_id"),
        # and so are client keys (0027)
        ("add_index", "uq_issues_client_key"),
        # references to an issue are made to its row in issue_keys, for the same reason (0022)
        *{(op, f"{ref}->{target}") for ref in REFERS_TO_ISSUE
          for op, target in (("add_fk", "issues"), ("remove_fk", "issue_keys"))},
    },
}


def _include(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
    return not (table and PARTITION.match(table)) and name != "spatial_ref_sys"


def _named(diff: Any) -> tuple[str, str]:
    """(operation, what) of one of alembic's differences."""
    if isinstance(diff, list):  # modify_* operations come as lists
        return ("modify", str(diff))
    op, obj = diff[0], diff[-1]
    if op.endswith("_table") or op.endswith("_index"):
        return (op, str(obj.name))
    if op.endswith("_column"):
        return (op, f"{diff[2]}.{obj.name}")
    if op.endswith("_fk"):
        return (op, f"{obj.table.name}.{obj.column_keys[0]}->{obj.referred_table.name}")
    if op.endswith("_constraint"):
        return (op, f"{obj.table.name}." + ",".join(c.name for c in obj.columns))
    return (op, str(diff))


@pytest.mark.filterwarnings("ignore:Did not recognize type .geometry.")
# SQLite's ix_features_kind_width (0038) is on an expression, which SQLAlchemy does not reflect
# (test_store.py checks what it is for: a box finding a long feature that starts far west)
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_schema_py_describes_what_the_migrations_made(store: Store) -> None:
    backend = "postgis" if store.url.startswith("postgres") else "sqlite"
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        context = MigrationContext.configure(conn, opts={"include_object": _include,
                                                         "compare_type": True})
        found = {_named(d) for d in compare_metadata(context, metadata)}
    assert found == BY_DESIGN[backend]


def test_a_migration_that_fails_leaves_the_database_as_it_was(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """All or nothing on both backends: on SQLite too, where Python's sqlite3 would commit a
    CREATE TABLE on its own (it begins a transaction only before INSERT, UPDATE, DELETE)."""
    import geo.store.migrations.helpers as helpers

    create = helpers.create_by_pair

    def create_then_fail(*args: Any, **kwargs: Any) -> None:
        create(*args, **kwargs)  # 0021's table is made, then something goes wrong
        raise RuntimeError("disk full")

    store.migrate("0020", downgrade=True)  # type: ignore[attr-defined]
    monkeypatch.setattr(helpers, "create_by_pair", create_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        store.migrate()  # type: ignore[attr-defined]
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0020"
        assert "issue_cell_counts" not in inspect(conn).get_table_names()
    monkeypatch.setattr(helpers, "create_by_pair", create)
    store.migrate()  # type: ignore[attr-defined]
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        assert "issue_cell_counts" in inspect(conn).get_table_names()


def test_an_upgraded_database_never_gives_a_deleted_features_id_again(store: Store) -> None:
    """0032 on a database made before it, whose newest feature was deleted: the next feature
    takes a new id (SQLite gave the deleted one's again; PostgreSQL never does)."""
    store.migrate("0031", downgrade=True)  # type: ignore[attr-defined]
    square = Point(121.47, 31.23).buffer(0.001)
    kept = store.save_feature(Feature(Kind.zone, square, name="留下"), "planner", "create")
    gone = store.save_feature(Feature(Kind.zone, square, name="删除"), "planner", "create")
    store.delete_feature(gone.id or 0, "planner")
    store.migrate()  # type: ignore[attr-defined]
    assert store.feature(kept.id or 0).name == "留下"  # the features and their ids kept
    new = store.save_feature(Feature(Kind.zone, square, name="新的"), "planner", "create")
    assert (new.id or 0) > (gone.id or 0)
    assert [v["action"] for v in store.feature_versions(new.id or 0)] == ["create"]


def test_an_upgraded_sqlite_database_finds_chinese_property_names(store: Store) -> None:
    """0033 rewrites properties SQLite kept with \\u escapes (as json.dumps wrote them before),
    whose Chinese keys its JSON functions never found."""
    store.migrate("0032", downgrade=True)  # type: ignore[attr-defined]
    [fid] = store.add_features([Feature(Kind.market, Point(121.47, 31.23), name="菜场")])
    escaped = json.dumps({"责任单位": "区商务委"})  # {"\\u8d23…": …}
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("UPDATE features SET properties = :p WHERE id = :id"),
                     {"p": escaped, "id": fid})
    store.migrate()  # type: ignore[attr-defined]
    assert [f.id for f in store.features(Kind.market, where={"责任单位": "区商务委"})] == [fid]
    assert store.feature(fid).properties == {"责任单位": "区商务委"}



def test_an_upgraded_database_stores_the_created_note_once_in_chinese(store: Store) -> None:
    """0036: issues made before it have the first history note '创建 created' (both languages
    at once, which the exports printed as is); it becomes '创建', as new issues write it, and a
    user's note that merely says the same words with more is left as written."""
    from geo.model.records import Issue

    [old, kept] = store.add_issues([Issue("litter", 121.465, 31.225),
                                    Issue("litter", 121.466, 31.225)])
    store.migrate("0035", downgrade=True)  # type: ignore[attr-defined]
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("UPDATE issue_history SET note = '创建 created' WHERE issue_id = :i"),
                     {"i": old})
        conn.execute(text("UPDATE issue_history SET note = '创建 created（补录）' "
                          "WHERE issue_id = :i"), {"i": kept})
    store.migrate()  # type: ignore[attr-defined]
    [new] = store.add_issues([Issue("litter", 121.467, 31.225)])
    notes = {i: [h["note"] for h in rows] for i, rows in store.histories([old, kept, new]).items()}
    assert notes == {old: ["创建"], kept: ["创建 created（补录）"], new: ["创建"]}

# the filters of the map's filter panel, and a unit's own user (its unit on every tile)
PANEL_FILTERS: dict[str, dict[str, Any]] = {
    "category": {"categories": ["street_vending"]}, "status": {"statuses": ["reported"]},
    "source": {"sources": ["public_report"]}, "unit": {"units": ["城管局"]},
    "unit's user": {"scope_unit": "城管局"}, "community": {"communities": ["康和社区"]},
    "dates (the week replay)": {"since": datetime(2026, 1, 5), "until": datetime(2026, 1, 12)},
    "overdue": {"overdue": True}}


def test_an_analysed_sqlite_database_keeps_the_tile_index_statistics_through_0034(
        store: Store) -> None:
    """0034 makes ix_issues_cells again, and DROP INDEX deletes its row of SQLite's statistics:
    the planner guessed for the index until the next store.analyze. The migration samples it
    again, with the columns it now has."""
    from geo.model.records import Issue

    if store.url.startswith("postgres"):
        pytest.skip("SQLite's statistics only: PostgreSQL keeps a table's when an index is "
                    "made again")
    store.add_issues([Issue("litter", 121.465 + i / 1000, 31.225, reported_at=datetime(2026, 1, 5))
                      for i in range(20)])
    store.migrate("0033", downgrade=True)  # type: ignore[attr-defined]
    store.analyze()  # type: ignore[attr-defined]
    store.migrate()  # type: ignore[attr-defined]
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        stat = conn.execute(text("SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_issues_cells'"
                                 )).scalar()
        columns = inspect(conn).get_indexes("issues")
    [cells] = [i for i in columns if i["name"] == "ix_issues_cells"]
    assert stat is not None
    # the row count, then one average a column of the index (12 from 0034 on)
    assert stat.split()[0] == "20" and len(stat.split()) == 1 + len(cells["column_names"]) == 13


def test_the_map_filters_of_issue_tiles_read_their_covering_indexes_only(store: Store) -> None:
    """Every filter of the map's filter panel, and a unit user's scope, tests only columns that
    the issue tiles' covering indexes hold (ix_issues_cells, which SQLite's point tiles and both
    backends' cell tiles read; on PostGIS ix_issues_tile's INCLUDE for the point tiles): a
    filtered tile reads no table row. At 1M issues a week's dates or a unit read a table page
    per issue of the tile: 130-350 ms a cell tile on SQLite against 30-60 (0034)."""
    from geo.store import IssueQuery
    from geo.store.rows import _issue_conditions, _tested_columns

    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        indexes = {i["name"]: i for i in inspect(conn).get_indexes("issues")}
    covering = {"ix_issues_cells": set(indexes["ix_issues_cells"]["column_names"])}
    if store.url.startswith("postgres"):
        tile = indexes["ix_issues_tile"]
        covering["ix_issues_tile"] = {*tile["column_names"],
                                      *tile["dialect_options"]["postgresql_include"]}
    for name, kw in PANEL_FILTERS.items():
        tested = _tested_columns(_issue_conditions(IssueQuery(**kw)))
        assert tested, name
        for index, columns in covering.items():
            assert tested <= columns, (name, index, tested - columns)


def test_sqlite_reads_a_filtered_cell_tile_from_the_covering_index(store: Store) -> None:
    """Whatever SQLite's sampled statistics say: with a unit and a week they chose the unit's
    index and a table row per issue of the unit (a unit user's replay step took 1.3-7.7 s at
    1M issues). A filter the index cannot answer (a zone) is left to the planner."""
    from sqlalchemy import event

    from geo.store import IssueQuery
    from geo.tiling.tiles import Tile, tile_of

    if store.url.startswith("postgres"):
        pytest.skip("SQLite's planner only: PostgreSQL takes no index hints")
    sent: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        if "GROUP BY issues.cell_x" in sql:
            sent.append((sql, params))

    engine = store.engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        tile = Tile(12, *tile_of(121.47, 31.23, 12), 512)
        week = {"since": datetime(2026, 1, 5), "until": datetime(2026, 1, 12)}
        store.issue_tile(IssueQuery(scope_unit="城管局", **week), tile)
        store.issue_tile(IssueQuery(zone_id=1, **week), tile)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(sent) == 2
    with engine.connect() as conn:
        plans = [" ".join(str(row[-1]) for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + sql, params)) for sql, params in sent]
    assert "COVERING INDEX ix_issues_cells" in plans[0], plans[0]
    assert "INDEXED BY" not in sent[1][0]
