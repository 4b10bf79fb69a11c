"""Benchmarks that print figures (see README "City-scale benchmark dataset")."""

import importlib
import os
from types import ModuleType

# a benchmark measures one thing at a time: no server it starts, in process or as `ccmap serve`,
# rebuilds tiles in the background beside the requests it times (CCMAP_TILE_RESEED_SECONDS;
# bench_reseed runs a pass on purpose)
os.environ.setdefault("CCMAP_TILE_RESEED_SECONDS", "0")


def seeding() -> ModuleType:
    """geo.maps.seeding, or geo.maps.tilecache in a checkout from before seeding had a module
    of its own (a benchmark may run the code of another checkout)."""
    try:
        return importlib.import_module("geo.maps.seeding")
    except ModuleNotFoundError:
        return importlib.import_module("geo.maps.tilecache")


def page_spec() -> str:
    """The `fields` query value the page sends, in the code measured (a tuple before it was a
    spec)."""
    spec = seeding().PAGE_FIELDS
    return spec if isinstance(spec, str) else ",".join(spec)


def no_migration(self: object, revision: str = "head", downgrade: bool = False) -> None:
    """Stands in for SqlStore.migrate where a benchmark opens a database as it is: one made by
    another checkout may be at a revision the code measured does not know."""


def page_layers(store: object) -> list[str]:
    """The layers of the page's tile a place, bottom to top, in the code measured: the shared
    grid's, the test points when it draws them from tiles (a city's), the issues."""
    import geo.maps.mapview as mapview

    tiled = getattr(mapview, "tiled_test_points", None)
    points = ["test_point"] if tiled is not None and tiled(store) else []
    return [*seeding().page_base_layers(), *points, "issues"]
