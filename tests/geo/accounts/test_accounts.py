"""Accounts in the domain and the CLI: hashing, the first admin, the audit trail."""

from __future__ import annotations

import io
import json
import sys

import pytest
from shapely.geometry import Point

from geo.accounts.logins import DEMO_PASSWORD, hash_password, verify_password
from geo.model.errors import Conflict
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.model.users import Role, User
from geo.store import Store, open_store
from server.cli import main


def test_passwords_are_argon2_hashes(store: Store) -> None:
    hashed = hash_password("正确的密码-123")
    assert hashed.startswith("$argon2id$") and "正确的密码" not in hashed
    assert verify_password(hashed, "正确的密码-123")
    assert not verify_password(hashed, "wrong-password")
    assert not verify_password("not-a-hash", "anything")
    store.add_user(User("a", Role.viewer, password_hash=hashed))
    with pytest.raises(Conflict):
        store.add_user(User("a", Role.viewer, password_hash=hashed))


def test_cli_creates_the_first_admin_without_default_password(
        db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(db_url)
    try:
        assert store.users() == []  # a fresh install has no accounts at all
        monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret-admin-pw\n"))
        assert main(["user", "add", "chief", "--role", "admin", "--password-stdin",
                     "--db", db_url, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["role"] == "admin"
        chief = store.user("chief")
        assert chief is not None and verify_password(chief.password_hash, "s3cret-admin-pw")
        assert main(["unit", "add", "区教育局", "--parent", "示范街道", "--db", db_url]) == 0
        monkeypatch.setattr(sys, "stdin", io.StringIO("unit-password-1\n"))
        assert main(["user", "add", "edu", "--role", "unit", "--unit", "区教育局",
                     "--password-stdin", "--db", db_url]) == 0
        monkeypatch.setattr(sys, "stdin", io.StringIO("unit-password-1\n"))
        assert main(["user", "add", "ghost", "--role", "unit", "--unit", "不存在的单位",
                     "--password-stdin", "--db", db_url]) == 2
        assert "未知的单位 '不存在的单位'：请先用 ccmap 的 unit add 命令创建" \
            in capsys.readouterr().err
        actors = {r["actor"] for r in store.audit_log(object_type="user")}
        assert all(a.startswith("cli:") for a in actors)
    finally:
        store.close()


def test_every_write_leaves_an_audit_row(store: Store) -> None:
    ids = store.add_features([Feature(Kind.street, Point(0, 0).buffer(1).boundary, name="路")],
                             actor="user:planner")
    store.add_issues([Issue("graffiti", 121.47, 31.23)], actor="user:inspector")
    store.add_user(User("v", Role.viewer, password_hash=hash_password("abcdefgh")),
                   actor="user:admin")
    store.update_user("v", {"role": "planner"}, actor="user:admin")
    rows = store.audit_log()
    kinds = [(r["actor"], r["action"], r["object_type"]) for r in reversed(rows)]
    assert kinds == [("user:planner", "create", "feature"), ("user:inspector", "create", "issue"),
                     ("user:admin", "create", "user"), ("user:admin", "update", "user")]
    assert rows[0]["diff"] == {"role": {"from": "viewer", "to": "planner"}}
    assert rows[-1]["diff"]["ids"] == ids


def test_a_failed_write_leaves_no_audit_row(store: Store) -> None:
    store.add_issues([Issue("graffiti", 121.47, 31.23, external_id="X")])
    before = len(store.audit_log())
    with pytest.raises(Exception):  # noqa: B017 - driver-specific IntegrityError
        store.add_issues([Issue("graffiti", 121.47, 31.23, external_id="X")], actor="user:x")
    assert len(store.audit_log()) == before


def test_audit_rows_cannot_be_changed(store: Store) -> None:
    from sqlalchemy import text

    store.record_audit("user:a", "login", "session", None, {})
    engine = store.engine  # type: ignore[attr-defined]
    for sql in ("UPDATE audit SET actor = 'forged'", "DELETE FROM audit"):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    assert store.audit_log()[0]["actor"] == "user:a"


def test_demo_has_one_user_per_role(store: Store) -> None:
    from geo.demo.city import build_demo

    build_demo(store)
    users = {u.username: u for u in store.users()}
    assert {u.role.value for u in users.values()} == {r.value for r in Role}
    assert set(users) == {"admin", "planner", "inspector", "unit1", "viewer"}
    assert all(verify_password(u.password_hash, DEMO_PASSWORD) for u in users.values())
    assert users["unit1"].unit in {z.properties["unit"] for z in store.features(Kind.zone)}
