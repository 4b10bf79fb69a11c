"""Fuzz the whole OpenAPI schema through the app: no 5xx, and answers match the schema.

Schemathesis generates requests for every documented operation (valid and invalid data), sent
through the ASGI app on a small demo city in SQLite, logged in as an admin and as a unit user.
The number of examples per operation is bounded (CCMAP_FUZZ_EXAMPLES, default 15) so that CI
finishes; raise it locally for a deeper run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis not installed (dev extra)")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from geo.demo.city import build_demo  # noqa: E402
from geo.store import open_store  # noqa: E402
from server.app import create_app  # noqa: E402
from server.settings import Settings  # noqa: E402
from tests.conftest import add_user, bearer  # noqa: E402

EXAMPLES = int(os.environ.get("CCMAP_FUZZ_EXAMPLES", "15"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# Requests that would end the fuzzing session itself (log out, revoke the token in use)
SKIP = {("POST", "/api/auth/logout"), ("DELETE", "/api/auth/tokens/{token_id}")}


# The schema is read at collection time (schemathesis' lazy fixture loader does not work with
# this pytest), so the app is built on an empty database here and the city added by a fixture.
_DIR = Path(tempfile.mkdtemp(prefix="ccmap-fuzz-"))
_URL = f"sqlite:///{_DIR / 'fuzz.db'}"
_STORE = open_store(_URL)
# the route solver searches 0.2 s instead of 2 s per round (POST /api/plan/rounds, ~150 cases):
# the answer's shape and status are the same whatever the search time
APP = create_app(Settings(database_url=_URL, basemap="none", plan_solver_seconds=0.2),
                 store=_STORE)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module")
def tokens() -> Iterator[dict[str, dict[str, str]]]:
    """A small demo city with an admin and a unit user; bearer headers for each."""
    build_demo(_STORE, n_issues=200)
    add_user(_STORE, "fuzzadmin", "admin")
    add_user(_STORE, "fuzzunit", "unit", unit="区市场监管局")
    with TestClient(APP) as client:
        yield {"admin": bearer(client, "fuzzadmin"), "unit": bearer(client, "fuzzunit")}
    _STORE.close()
    shutil.rmtree(_DIR, ignore_errors=True)


FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


def _call(case: Any, headers: dict[str, str]) -> None:
    if (case.method.upper(), case.path) not in SKIP:
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=120)


@schema.parametrize()
@FUZZ
def test_fuzz_as_admin(case: Any, tokens: dict[str, dict[str, str]]) -> None:
    """Every request an admin can send gets a documented, non-5xx answer."""
    _call(case, tokens["admin"])


@schema.parametrize()
@FUZZ
def test_fuzz_as_unit_user(case: Any, tokens: dict[str, dict[str, str]]) -> None:
    """Every request a unit user can send gets a documented, non-5xx answer."""
    _call(case, tokens["unit"])
