"""The OpenAPI document describes every answer: each operation's success response has a
content schema (or is documented as having no body), and a query parameter means one thing
wherever it appears."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from server.app import create_app
from server.settings import Settings

NO_BODY = {"204", "303", "304"}
# parameters whose values each route defines for itself
OWN_VALUES = {"format": "the formats the route answers in",
              "level": "the levels the analysis groups by",
              "state": "the states of what the route lists (jobs, extensions, deliveries)"}
# a name that means something else on one route (kept for the clients that send it)
OTHER_MEANING = {("limit", "GET /api/coverage"): "parts listed of each kind",
                 ("limit", "GET /api/layers/{kind}/names"): "names listed, at most 100",
                 ("unit", "GET /api/calendar/deadline"): "a time unit (the scripts' contract)",
                 ("limit", "GET /ogc/collections/{collection_id}/items"):
                     "OGC API Features: default 10, a larger one than the maximum is served "
                     "as the maximum (the standard forbids refusing it)",
                 ("bbox", "GET /ogc/collections/{collection_id}/items"):
                     "OGC API Features: in the axis order of bbox-crs, 4 or 6 numbers"}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The app's OpenAPI document (an empty SQLite store behind it)."""
    db: Path = tmp_path_factory.mktemp("openapi") / "openapi.db"
    return create_app(Settings(database_url=f"sqlite:///{db}", basemap="none")).openapi()


def _operations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{method.upper()} {path}", op) for path, ops in doc["paths"].items()
            for method, op in ops.items()]


def _vague(schema: dict[str, Any] | None) -> bool:
    """A schema that says nothing: missing, {}, or an object/array of anything."""
    if not schema:
        return True
    if "$ref" in schema:
        return False
    if "anyOf" in schema:
        return any(_vague(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return _vague(schema.get("items"))
    if schema.get("type") == "object" and not schema.get("properties"):
        extra = schema.get("additionalProperties")
        return not isinstance(extra, dict) or _vague(extra)
    return False


def test_every_success_response_says_what_its_body_is(openapi: dict[str, Any]) -> None:
    vague = []
    for name, op in _operations(openapi):
        successes = {c: r for c, r in op["responses"].items() if c.startswith("2") or
                     c in NO_BODY}
        assert successes, f"{name} documents no success response"
        for code, response in successes.items():
            if code in NO_BODY:
                assert not response.get("content"), f"{name} {code} should have no body"
                continue
            content = response.get("content")
            if not content:
                vague.append(f"{name} {code}: no content")
            for media, body in (content or {}).items():
                if _vague(body.get("schema")):
                    vague.append(f"{name} {code} {media}: {body.get('schema')}")
    assert not vague, "answers the OpenAPI document does not describe:\n" + "\n".join(vague)


def test_a_parameter_name_has_one_schema_everywhere(openapi: dict[str, Any]) -> None:
    seen: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for name, op in _operations(openapi):
        for p in op.get("parameters", []):
            if p["name"] in OWN_VALUES or (p["name"], name) in OTHER_MEANING:
                continue
            key = repr(sorted(_meaning(p["schema"]).items())) + repr(p.get("description"))
            seen[(p["in"], p["name"])][key].append(name)
    differing = {k: dict(v) for k, v in seen.items() if len(v) > 1}
    assert not differing, "parameters of one name with different schemas: " + "\n".join(
        f"{k}: {v}" for k, v in differing.items())


def _meaning(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without its title and default, optional or not."""
    kept = {k: v for k, v in schema.items() if k not in ("title", "default")}
    options = [s for s in kept.pop("anyOf", []) if s != {"type": "null"}]
    if len(options) == 1:
        kept.update(options[0])
    elif options:
        kept["anyOf"] = options
    return kept


def test_the_checks_above_catch_a_vague_answer() -> None:
    assert _vague({}) and _vague({"type": "object", "additionalProperties": True})
    assert _vague({"type": "array", "items": {"type": "object"}})
    assert not _vague({"$ref": "#/components/schemas/IssuePublic"})
    assert not _vague({"type": "string", "format": "binary"})
    assert _meaning({"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Bbox"}) == \
        _meaning({"type": "string", "default": "x"}) != _meaning({"type": "integer"})
