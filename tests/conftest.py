"""Shared fixtures: a fresh store on every backend, the app, and the CI rule for skips.

Backends: SQLite always; PostGIS at CCMAP_TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/ccmap_test). Each PostGIS test gets its own schema.
Outside CI a missing PostGIS or Chromium skips with the reason; with CI=true it fails.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo.accounts.logins import hash_password
from geo.model.users import Role, Unit, User
from geo.store import Store, open_store
from server.app import create_app
from server.settings import Settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# no disk tile cache unless a test asks for one (tests/geo/maps/test_tile_cache.py): `auto`
# would leave a directory in var/tiles for every PostgreSQL test schema, and a test database
# made again under the same URL (its layer versions restart) would meet an earlier run's tiles
os.environ.setdefault("CCMAP_TILE_CACHE_DIR", "none")
# no notifications loop in the servers tests start: the tests send and scan with a given `now`
# (tests/geo/notify); tests/server/test_notify_api.py starts one on purpose
os.environ.setdefault("CCMAP_NOTIFY_SEND_SECONDS", "0")
# no pooled connections opened at start-up by every app the tests make (one per test on
# PostgreSQL); tests/geo/store/test_store.py checks the warm-up on purpose
os.environ.setdefault("CCMAP_DB_WARM_CONNECTIONS", "0")
# no tile reseeding loop either (it would read the store beside each test's own requests);
# tests/geo/maps/test_tile_cache.py and tests/server/test_tiles_api.py run it on purpose
os.environ.setdefault("CCMAP_TILE_RESEED_SECONDS", "0")
PG_URL = os.environ.get("CCMAP_TEST_POSTGRES_URL",
                        "postgresql://postgres@127.0.0.1:5432/ccmap_test")
ROOT = Path(__file__).resolve().parent.parent  # the checkout
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ARTIFACTS = Path(__file__).resolve().parent / "_artifacts"


def missing(reason: str) -> None:
    """Skip with a reason, or fail when running in CI, where every dependency must be present."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def need_chromium() -> None:
    """Skip (fail in CI) unless headless Chromium can render PNG/PDF."""
    from geo.exports.snapshot import ChromiumMissing, check_renderer

    try:
        check_renderer()
    except ChromiumMissing as exc:
        missing(exc.message)


def need_pdftotext() -> None:
    """Skip (fail in CI) unless poppler's pdftotext is installed."""
    if shutil.which("pdftotext") is None:
        missing("pdftotext not installed (apt-get install poppler-utils)")


_pg_state: dict[str, str | None] = {}


def _postgis_problem() -> str | None:
    """Why PostGIS cannot be used here (None when it can); checked once per session."""
    if "problem" in _pg_state:
        return _pg_state["problem"]
    problem: str | None = None
    try:
        import psycopg

        base, _, dbname = PG_URL.rpartition("/")
        try:
            with psycopg.connect(PG_URL, connect_timeout=3, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        except psycopg.OperationalError as exc:
            if "does not exist" not in str(exc):
                raise
            with psycopg.connect(f"{base}/postgres", connect_timeout=3, autocommit=True) as c:
                c.execute(f'CREATE DATABASE "{dbname}"')
            with psycopg.connect(PG_URL, connect_timeout=3, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except Exception as exc:  # any failure means: not usable here, say why
        problem = f"PostgreSQL+PostGIS not usable at {PG_URL}: {exc}".strip()
    _pg_state["problem"] = problem
    return problem


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL with an empty ccmap schema, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ccmap.db'}"
        return
    with _postgis_schema() as url:
        yield url


@contextlib.contextmanager
def _postgis_schema() -> Iterator[str]:
    """The URL of a new, empty PostGIS schema, dropped afterwards (skipped without PostGIS)."""
    problem = _postgis_problem()
    if problem:
        missing(problem)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema},public"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """An open, empty store on each backend."""
    s = open_store(db_url)
    yield s
    s.close()


DEMO_NOW = datetime(2026, 11, 24, 9, 0)  # the demo city of demo_store is built as of this time


@pytest.fixture(scope="session",
                params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def demo_store(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The demo city (as of DEMO_NOW), built once per backend and shared by every test that
    only reads it: a test that writes takes `store` and builds its own."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('demo-store') / 'demo.db'}"
        else:
            url = stack.enter_context(_postgis_schema())
        s = open_store(url)
        stack.callback(s.close)
        from geo.demo.city import build_demo

        build_demo(s, now=DEMO_NOW)
        yield s


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Settings pointing at the test database, basemap off (no network in tests), routes made
    as requests meet them (not all at each app's start: a second a test)."""
    return Settings(database_url=db_url, basemap="none", warm_routes=False)


TEST_PASSWORD = "test-password-123"


def add_user(store: Store, username: str, role: str, unit: str | None = None) -> None:
    """Create a user with TEST_PASSWORD (and its unit, if missing)."""
    if unit and unit not in {u.name for u in store.units()}:
        store.add_unit(Unit(unit))
    store.add_user(User(username, Role(role), unit=unit,
                        password_hash=hash_password(TEST_PASSWORD)))


def bearer(client: TestClient, username: str, password: str = TEST_PASSWORD) -> dict[str, str]:
    """Authorization header for a user, through the OAuth2 password flow."""
    r = client.post("/api/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def anon_client(settings: Settings, store: Store) -> Iterator[TestClient]:
    """A TestClient on an app built by the factory, sharing the test store, not logged in."""
    with TestClient(create_app(settings, store=store)) as c:
        yield c


@pytest.fixture
def client(anon_client: TestClient, store: Store) -> TestClient:
    """The same client logged in as an admin with a bearer token."""
    add_user(store, "testadmin", "admin")
    anon_client.headers.update(bearer(anon_client, "testadmin"))
    return anon_client


def wait_for_job(client: TestClient, response: Any, tries: int = 600) -> dict[str, Any]:
    """Follow a 202 job answer: poll GET /api/jobs/{id} until it is done or failed (bounded);
    return the job document."""
    assert response.status_code == 202, response.text
    url = response.json()["status_url"]
    assert response.headers["location"] == url
    for _ in range(tries):
        r = client.get(url)
        assert r.status_code == 200, r.text
        job = r.json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)  # only the pace of polling; the test waits for a state
    raise AssertionError(f"job {url} still {job['state']} after {tries} polls")


def tiny_png(size: tuple[int, int] = (8, 6), mode: str = "RGB") -> bytes:
    """A real (decodable) PNG image, for photo uploads."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, size, (200, 30, 30)[:len(mode)] if mode != "RGBA" else (200, 30, 30, 128)
              ).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary files (uploads and starlette's spools) go to a folder the test can list."""
    folder = tmp_path / "spool"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# --- the reduced benchmark city (bench.city at a small scale), shared by a whole session ------
CITY_SCALE, CITY_SEED, CITY_NOW = 0.01, 2026, datetime(2026, 6, 1)
CITY_USERS = {"cityadmin": "admin", "cityplanner": "planner", "cityviewer": "viewer"}


@dataclass(frozen=True)
class ReducedCity:
    """A reduced city imported on one backend: its URL, extent (WGS84) and manifest. Shared by
    the session, so tests only read it."""

    url: str
    backend: str
    extent: tuple[float, float, float, float]
    manifest: dict[str, Any]


@pytest.fixture(scope="session")
def city_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bench.city's import files at CITY_SCALE (500 streets, 50 zones, 10,000 issues), seeded."""
    from bench.city import generate

    out = tmp_path_factory.mktemp("reduced-city")
    generate(out, CITY_SEED, CITY_SCALE, CITY_NOW)
    return out


@pytest.fixture(scope="session",
                params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def reduced_city(request: pytest.FixtureRequest, city_files: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReducedCity]:
    """The reduced city imported with the `ccmap import` commands on each backend, with the
    users of CITY_USERS (TEST_PASSWORD)."""
    from bench.city import import_steps
    from server import cli

    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('reduced-city-db') / 'city.db'}"
        else:
            url = stack.enter_context(_postgis_schema())
        for name, args in import_steps(city_files, url):
            with contextlib.redirect_stdout(io.StringIO()):
                code = cli.main(args)
            assert code == 0, f"importing {name} failed"
        s = open_store(url)
        try:
            for username, role in CITY_USERS.items():
                add_user(s, username, role)
        finally:
            s.close()
        manifest = json.loads((city_files / "manifest.json").read_text(encoding="utf-8"))
        w, so, e, n = manifest["extent_wgs84"]
        yield ReducedCity(url, request.param, (w, so, e, n), manifest)


@pytest.fixture(scope="module")
def city_client(reduced_city: ReducedCity) -> Iterator[TestClient]:
    """An admin's client on an app serving the reduced city (basemap none)."""
    settings = Settings(database_url=reduced_city.url, basemap="none")
    with TestClient(create_app(settings)) as c:
        c.headers.update(bearer(c, "cityadmin"))
        yield c
