"""Account hardening: atomic login lockout, no username enumeration, audited failures, password
policy and change rate limit, token listing/revocation, the last admin, the username rule."""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

import geo.accounts.logins
from geo.accounts.logins import (
    GUESS_HINTS,
    LockoutPolicy,
    PasswordPolicy,
    authenticate,
    check_password,
    hash_password,
)
from geo.i18n import translate
from geo.model.errors import Conflict, InvalidInput, Locked, Unauthorized
from geo.model.users import Role, User
from geo.store import Store
from server.app import create_app
from server.cli import main
from server.settings import Settings
from tests.conftest import TEST_PASSWORD, add_user, bearer

STRONG = "kettle-orbit-42"
POLICY = LockoutPolicy(attempts=5, window=timedelta(minutes=15),
                       duration=timedelta(minutes=15))


def _counting_verify(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Replace the password check by a slow wrong answer that counts its calls."""
    calls: list[int] = []
    lock = threading.Lock()

    def verify(_hash: str, _password: str) -> bool:
        with lock:
            calls.append(1)
        time.sleep(0.05)  # about argon2's cost: the window a racy lockout lets guesses through
        return False

    monkeypatch.setattr(geo.accounts.logins, "verify_password", verify)
    return calls


@pytest.mark.parametrize("username", ["target", "nobody"])
def test_parallel_guesses_check_at_most_the_limit(store: Store, username: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    add_user(store, "target", "viewer")
    calls = _counting_verify(monkeypatch)
    barrier = threading.Barrier(40)
    outcomes: list[str] = []

    def guess() -> None:
        barrier.wait()
        try:
            authenticate(store, username, "wrong-guess", datetime.now(), POLICY)
        except (Unauthorized, Locked) as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=guess) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 40
    assert 1 <= len(calls) <= POLICY.attempts
    assert outcomes.count("Unauthorized") == len(calls)  # every other guess was refused
    monkeypatch.undo()
    with pytest.raises(Locked):  # even the right password waits for the lock to end
        authenticate(store, username, TEST_PASSWORD, datetime.now(), POLICY)


def test_lockout_answers_the_same_for_existing_and_unknown_names(store: Store) -> None:
    add_user(store, "viewer1", "viewer")
    now = datetime(2026, 12, 1, 9, 0)
    answers: dict[str, list[tuple[str, str, Any]]] = {}
    for name in ("viewer1", "nobody"):
        seen = answers.setdefault(name, [])
        for _ in range(POLICY.attempts + 2):
            with pytest.raises((Unauthorized, Locked)) as info:
                authenticate(store, name, "wrong-password", now, POLICY)
            seen.append((type(info.value).__name__, info.value.message,
                         info.value.detail.get("retry_after")))
    assert answers["viewer1"] == answers["nobody"]
    kinds = [kind for kind, _, _ in answers["nobody"]]
    assert kinds == ["Unauthorized"] * POLICY.attempts + ["Locked"] * 2
    # the lock ends after its duration, and a success clears the count
    later = now + POLICY.duration + timedelta(seconds=1)
    assert authenticate(store, "viewer1", TEST_PASSWORD, later, POLICY).username == "viewer1"
    with pytest.raises(Unauthorized):
        authenticate(store, "viewer1", "wrong-password", later, POLICY)
    assert authenticate(store, "viewer1", TEST_PASSWORD, later, POLICY).username == "viewer1"


def test_lockout_over_http_gives_no_username_away(store: Store) -> None:
    add_user(store, "viewer1", "viewer")
    settings = Settings(database_url=store.url, basemap="none", lockout_attempts=2)
    with TestClient(create_app(settings, store=store)) as c:
        replies = {}
        for name in ("viewer1", "nobody"):
            for _ in range(2):
                r = c.post("/api/auth/token", data={"username": name, "password": "wrong"})
                assert r.status_code == 401
            replies[name] = c.post("/api/auth/login", data={"username": name,
                                                             "password": "wrong"})
        a, b = replies["viewer1"], replies["nobody"]
        assert a.status_code == b.status_code == 423
        assert a.json()["detail"] == b.json()["detail"]
        assert abs(int(a.headers["retry-after"]) - int(b.headers["retry-after"])) <= 1
        assert "reason" not in a.json() and "locked" not in a.json()["detail"].split(":")[0]


def test_failed_logins_and_locks_are_audited(store: Store) -> None:
    add_user(store, "viewer1", "viewer")
    store.add_user(User("gone", Role.viewer, active=False,
                        password_hash=hash_password(TEST_PASSWORD)))
    policy = LockoutPolicy(attempts=2)
    now = datetime.now()
    for name in ("viewer1", "viewer1", "viewer1", "ghost", "gone", ""):
        with pytest.raises((Unauthorized, Locked)):
            authenticate(store, name, "wrong-password", now, policy, via="session")
    rows = list(reversed(store.audit_log(object_type="account")))
    got = [(r["actor"], r["action"], r["diff"].get("reason")) for r in rows]
    assert got == [("user:viewer1", "login_failed", "wrong_password"),
                   ("user:viewer1", "login_failed", "wrong_password"),
                   ("user:viewer1", "login_locked", None),
                   ("user:viewer1", "login_failed", "locked"),
                   ("user:ghost", "login_failed", "unknown_user"),
                   ("user:gone", "login_failed", "inactive_user"),
                   ("anonymous", "login_failed", "unknown_user")]
    assert rows[2]["diff"]["until"] > now.isoformat(timespec="seconds")
    assert all(r["diff"].get("via", "session") == "session" for r in rows)
    user = store.user("viewer1")  # the lock also shows on the account
    assert user is not None and user.locked_until is not None


def test_password_policy() -> None:
    policy = PasswordPolicy(min_length=10)
    check_password(TEST_PASSWORD, "tester", policy)  # the test helper's password passes
    check_password(STRONG, "tester", policy)
    for bad, why in (("short-pw", "密码至少 10 位"), ("1234567890", "密码过于常见"),
                     ("qwertyuiop", "密码过于常见"),
                     ("abcdefghij12", "^密码太容易被猜到：“abc”“6543”这样的序列容易被猜到；"),
                     ("tester-tester", "密码不能包含用户名"),
                     ("TESTER2026!x", "密码不能包含用户名")):
        with pytest.raises(InvalidInput, match=why):
            check_password(bad, "tester", policy)


def test_every_advice_of_zxcvbn_reads_in_chinese_and_in_english() -> None:
    """Each feedback text zxcvbn can give (its gettext calls) has its Chinese, and that its
    English in the catalog; the refusal lists the advice in both languages."""
    import ast
    import inspect

    import zxcvbn.feedback

    texts = {n.args[0].value for n in ast.walk(ast.parse(inspect.getsource(zxcvbn.feedback)))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "_"
             and isinstance(n.args[0], ast.Constant)}
    assert len(texts) > 20 and texts <= set(GUESS_HINTS)
    assert {translate(GUESS_HINTS[t], "en") for t in texts} == texts
    with pytest.raises(InvalidInput) as refused:
        check_password("aaaaaaaaaaaa", "tester", PasswordPolicy(min_length=10))
    assert refused.value.message == ("密码太容易被猜到：“aaa”这样的重复容易被猜到；"
                                     "再加一两个词，不常见的词更好；避免重复的词和字符")
    assert translate(refused.value.message, "en") == (
        'password is too easy to guess: Repeats like "aaa" are easy to guess. Add another '
        "word or two. Uncommon words are better. Avoid repeated words and characters.")


def test_chosen_passwords_follow_the_policy(client: TestClient, store: Store,
                                            db_url: str, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    r = client.post("/api/users", json={"username": "clerk", "password": "1234567890",
                                        "role": "viewer"})
    assert r.status_code == 400 and "密码过于常见" in r.json()["detail"]
    r = client.post("/api/users", json={"username": "clerk", "password": "clerk-2026x",
                                        "role": "viewer"})
    assert r.status_code == 400 and "密码不能包含用户名" in r.json()["detail"]
    assert store.user("clerk") is None
    assert client.post("/api/users", json={"username": "clerk", "password": STRONG,
                                           "role": "viewer"}).status_code == 201
    r = client.patch("/api/users/clerk", json={"password": "password1"})
    assert r.status_code == 400 and "密码至少 10 位" in r.json()["detail"]
    h = bearer(client, "clerk", STRONG)
    r = client.post("/api/auth/password", headers=h,
                    json={"current_password": STRONG, "new_password": "qwertyuiop"})
    assert r.status_code == 400 and "密码过于常见" in r.json()["detail"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("password12\n"))
    assert main(["user", "add", "chief", "--role", "admin", "--password-stdin",
                 "--db", db_url]) == 2
    assert "密码过于常见" in capsys.readouterr().err and store.user("chief") is None


def test_password_change_is_rate_limited(store: Store) -> None:
    add_user(store, "inspector1", "inspector")
    settings = Settings(database_url=store.url, basemap="none", password_change_attempts=2)
    with TestClient(create_app(settings, store=store)) as c:
        h = bearer(c, "inspector1")
        for _ in range(2):
            r = c.post("/api/auth/password", headers=h,
                       json={"current_password": "wrong-guess", "new_password": STRONG})
            assert r.status_code == 400
        r = c.post("/api/auth/password", headers=h,  # even the right one now waits
                   json={"current_password": TEST_PASSWORD, "new_password": STRONG})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert c.get("/api/me", headers=h).status_code == 200  # the session itself stays
    user = store.user("inspector1")
    assert user is not None
    assert geo.accounts.logins.verify_password(user.password_hash, TEST_PASSWORD)
    reasons = [r["diff"]["reason"] for r in store.audit_log(object_type="user")
               if r["action"] == "password_change_failed"]
    assert reasons == ["rate_limited", "wrong_password", "wrong_password"]


def _bearer_token(c: TestClient, username: str) -> str:
    r = c.post("/api/auth/token", data={"username": username, "password": TEST_PASSWORD})
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def test_tokens_are_listed_and_revoked(client: TestClient, store: Store) -> None:
    add_user(store, "planner1", "planner")
    add_user(store, "viewer1", "viewer")
    first, second = _bearer_token(client, "planner1"), _bearer_token(client, "planner1")
    other = _bearer_token(client, "viewer1")
    mine = {"Authorization": f"Bearer {first}"}
    r = client.get("/api/auth/tokens", headers=mine)
    assert r.status_code == 200
    listed = r.json()
    assert [t["kind"] for t in listed] == ["access", "access"]
    assert [t["current"] for t in listed] == [True, False]
    assert set(listed[0]) == {"id", "username", "name", "kind", "current", "created_at",
                              "expires_at"}
    assert second not in r.text and first not in r.text
    others = client.get("/api/users/viewer1/tokens").json()  # the admin's view
    assert [t["username"] for t in others] == ["viewer1"]
    r = client.delete(f"/api/auth/tokens/{others[0]['id']}", headers=mine)
    assert r.status_code == 404  # someone else's token is not the planner's to see
    assert client.get("/api/me", headers={"Authorization": f"Bearer {other}"}).status_code == 200
    assert client.get("/api/users/viewer1/tokens", headers=mine).status_code == 403
    r = client.delete(f"/api/auth/tokens/{listed[1]['id']}", headers=mine)
    assert r.status_code == 200 and r.json()["kind"] == "access"
    assert client.get("/api/me", headers={"Authorization": f"Bearer {second}"}).status_code \
        == 401
    assert client.get("/api/me", headers=mine).status_code == 200
    assert client.delete(f"/api/auth/tokens/{others[0]['id']}").status_code == 200  # admin
    assert client.get("/api/me", headers={"Authorization": f"Bearer {other}"}).status_code \
        == 401
    revokes = [(r["actor"], r["diff"]["owner"]) for r in store.audit_log(object_type="token")
               if r["action"] == "revoke"]
    assert revokes == [("user:testadmin", "viewer1"), ("user:planner1", "planner1")]


def test_cli_lists_and_revokes_tokens(client: TestClient, store: Store, db_url: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    add_user(store, "viewer1", "viewer")
    token = _bearer_token(client, "viewer1")
    assert main(["token", "list", "viewer1", "--db", db_url, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["tokens"]
    assert [(t["username"], t["kind"]) for t in rows] == [("viewer1", "access")]
    assert token not in json.dumps(rows)
    assert main(["token", "revoke", str(rows[0]["id"]), "--db", db_url]) == 0
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code \
        == 401
    assert main(["token", "revoke", str(rows[0]["id"]), "--db", db_url]) == 2


def test_the_last_admin_stays(client: TestClient, store: Store, db_url: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    for change in ({"active": False}, {"role": "viewer"}):
        r = client.patch("/api/users/testadmin", json=change)
        assert r.status_code == 409 and "管理员" in r.json()["detail"], r.text
    assert main(["user", "set", "testadmin", "--deactivate", "--db", db_url]) == 2
    assert "不能停用唯一的在用管理员" in capsys.readouterr().err
    user = store.user("testadmin")
    assert user is not None and user.active and user.role is Role.admin
    add_user(store, "deputy", "admin")
    assert main(["user", "set", "deputy", "--role", "planner", "--db", db_url]) == 0
    add_user(store, "deputy2", "admin")
    r = client.patch("/api/users/deputy2", json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False


def test_two_admins_demoting_each_other_at_once_leave_one(store: Store) -> None:
    add_user(store, "a1", "admin")
    add_user(store, "a2", "admin")
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def demote(target: str, by: str) -> None:
        barrier.wait()
        try:
            store.update_user(target, {"role": "viewer"}, actor=f"user:{by}")
            results[target] = "done"
        except Conflict:
            results[target] = "refused"

    threads = [threading.Thread(target=demote, args=("a1", "a2")),
               threading.Thread(target=demote, args=("a2", "a1"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == ["done", "refused"]
    assert [u.username for u in store.users() if u.role is Role.admin and u.active] != []


@pytest.mark.parametrize("name", ["a/b", "ab", ".hidden", "-rf", "x" * 65, "张三", "a b",
                                  "a\nb"])
def test_usernames_outside_the_rule_are_refused(client: TestClient, store: Store,
                                                name: str) -> None:
    r = client.post("/api/users", json={"username": name, "password": STRONG,
                                        "role": "viewer"})
    assert r.status_code == 400 and "只能使用 3-64 位" in r.json()["detail"], r.text
    assert store.user(name) is None and store.user(name.strip()) is None


def test_every_name_can_be_managed(client: TestClient, store: Store, db_url: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("first.last", "a_b-c", "0123", "X" * 64):
        r = client.post("/api/users", json={"username": name, "password": STRONG,
                                            "role": "viewer"})
        assert r.status_code == 201, r.text
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{STRONG}\n"))
    assert main(["user", "add", "a/b", "--role", "viewer", "--password-stdin",
                 "--db", db_url]) == 2
    # a name made before the rule (here straight in the store) stays manageable
    store.add_user(User("old/name", Role.viewer, password_hash=hash_password(STRONG)))
    for name in ("first.last", "a_b-c", "0123", "X" * 64, "old/name"):
        quoted = name.replace("/", "%2F")
        r = client.patch(f"/api/users/{quoted}", json={"display_name": "改名"})
        assert r.status_code == 200 and r.json()["username"] == name, r.text
        r = client.get(f"/api/users/{quoted}/tokens")
        assert r.status_code == 200 and r.json() == []
