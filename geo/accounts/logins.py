"""Logins: password rules and hashing, authentication with lockout, password changes, the demo's
users."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from geo.model.errors import InvalidInput, Locked, TooManyRequests, Unauthorized
from geo.model.users import Role, User
from geo.store import AccountStore, AuditStore


class LoginStore(AccountStore, AuditStore, Protocol):
    """What logins ask of storage: accounts and tokens, and the audit trail."""


DEMO_PASSWORD = "ccmap-demo"
_hasher = PasswordHasher()
# ASCII letters, digits, "_", "." and "-", 3 to 64 long, starting with a letter or digit: safe
# in URLs, shell commands and CSV; a person's Chinese name goes in display_name
USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,63}")
WRONG_LOGIN = "用户名或密码错误"
LOCKED_LOGIN = "该用户名登录失败次数过多，请稍后再试"


# zxcvbn's advice (its feedback texts, in English) as a Chinese user reads it; the English is in
# data/locales/en/errors-rows.json; advice it may add in a later version is left out
GUESS_HINTS = {
    "Use a few words, avoid common phrases.": "用几个词组成密码，避免常见的短语",
    "No need for symbols, digits, or uppercase letters.": "不必非用符号、数字或大写字母",
    "Add another word or two. Uncommon words are better.": "再加一两个词，不常见的词更好",
    "Straight rows of keys are easy to guess.": "键盘上连成一排的按键容易被猜到",
    "Short keyboard patterns are easy to guess.": "较短的键盘图案容易被猜到",
    "Use a longer keyboard pattern with more turns.": "请使用更长、转折更多的键盘图案",
    'Repeats like "aaa" are easy to guess.': "“aaa”这样的重复容易被猜到",
    'Repeats like "abcabcabc" are only slightly harder to guess than "abc".':
        "“abcabcabc”这样的重复只比“abc”略难猜到",
    "Avoid repeated words and characters.": "避免重复的词和字符",
    'Sequences like "abc" or "6543" are easy to guess.': "“abc”“6543”这样的序列容易被猜到",
    "Avoid sequences.": "避免使用序列",
    "Recent years are easy to guess.": "近年的年份容易被猜到",
    "Avoid recent years.": "避免使用近年的年份",
    "Avoid years that are associated with you.": "避免使用与您有关的年份",
    "Dates are often easy to guess.": "日期往往容易被猜到",
    "Avoid dates and years that are associated with you.": "避免使用与您有关的日期和年份",
    "This is a top-10 common password.": "这是最常用的 10 个密码之一",
    "This is a top-100 common password.": "这是最常用的 100 个密码之一",
    "This is a very common password.": "这是非常常见的密码",
    "This is similar to a commonly used password.": "与常用密码相似",
    "A word by itself is easy to guess.": "单个词容易被猜到",
    "Names and surnames by themselves are easy to guess.": "单独的姓名容易被猜到",
    "Common names and surnames are easy to guess.": "常见的名字和姓氏容易被猜到",
    "Capitalization doesn't help very much.": "首字母大写作用不大",
    "All-uppercase is almost as easy to guess as all-lowercase.":
        "全部大写与全部小写几乎一样容易被猜到",
    "Reversed words aren't much harder to guess.": "把词倒过来写并不会难猜多少",
    "Predictable substitutions like '@' instead of 'a' don't help very much.":
        "用“@”代替“a”这类可预见的替换作用不大",
}


@dataclass(frozen=True)
class LockoutPolicy:
    """After `attempts` failures within `window`, the account is locked for `duration`."""

    attempts: int = 5
    window: timedelta = timedelta(minutes=15)
    duration: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class PasswordPolicy:
    """What a chosen password must pass: length, and zxcvbn's estimate of how guessable it is
    (common-password lists, keyboard patterns, sequences, the username)."""

    min_length: int = 10
    max_length: int = 256  # argon2 takes any length; this bounds the work per request
    min_score: int = 2  # zxcvbn 0-4: 2 = "somewhat guessable" (about 10^8 guesses) or better


def check_username(username: str) -> str:
    """The username if it fits USERNAME_RE, else InvalidInput saying what is allowed."""
    if not USERNAME_RE.fullmatch(username):
        raise InvalidInput(
            f"用户名 {username!r} 不符合要求：只能使用 3-64 位英文字母、数字、_ . -，"
            "并以字母或数字开头（中文姓名请填在显示名称中）")
    return username


@cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password(password: str, username: str, policy: PasswordPolicy,
                   other_inputs: tuple[str, ...] = ()) -> None:
    """InvalidInput saying why, unless the password is long enough, not common, and does not
    contain the username."""
    if len(password) < policy.min_length:
        raise InvalidInput(f"密码至少 {policy.min_length} 位")
    if len(password) > policy.max_length:
        raise InvalidInput(f"密码最多 {policy.max_length} 位")
    lowered, name = password.lower(), username.strip().lower()
    if name and (lowered == name or (len(name) >= 3 and name in lowered)):
        raise InvalidInput("密码不能包含用户名")
    if lowered in _common_passwords():
        raise InvalidInput("密码过于常见，请换一个")
    from zxcvbn import zxcvbn

    # zxcvbn's matching grows fast with length; the first 100 characters tell enough
    result = zxcvbn(password[:100], user_inputs=[username, *other_inputs])
    if result["score"] < policy.min_score:
        feedback = result["feedback"]
        hints = [GUESS_HINTS[h] for h in (feedback["warning"], *feedback["suggestions"])
                 if h in GUESS_HINTS]
        if hints:
            raise InvalidInput(f"密码太容易被猜到：{'；'.join(hints)}")
        raise InvalidInput("密码太容易被猜到")


def choose_password(password: str, username: str, policy: PasswordPolicy,
                    other_inputs: tuple[str, ...] = ()) -> str:
    """The hash of a password a person chose, after check_password."""
    check_password(password, username, policy, other_inputs)
    return hash_password(password)


def hash_password(password: str) -> str:
    """An argon2id hash of the password, after checking the minimum policy."""
    if len(password) < 8:
        raise InvalidInput("密码至少 8 位")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches the stored hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _retry_after(until: datetime, now: datetime) -> int:
    return int((until - now).total_seconds()) + 1


def attempt_actor(username: str) -> str:
    """How an attempted (possibly unknown) username is named in the audit log."""
    return f"user:{username[:100]}" if username.strip() else "anonymous"


def authenticate(store: LoginStore, username: str, password: str, now: datetime,
                 policy: LockoutPolicy, via: str = "token") -> User:
    """The user if the password is right. Every attempt on a name, existing or not, is counted
    atomically before the password is checked, so concurrent guesses cannot pass the limit;
    failures and locks are audited with their reason, the caller sees one answer for all."""
    actor, name = attempt_actor(username), username[:200]
    attempts = store.reserve_attempt("login", username, now, policy.attempts, policy.window,
                                     policy.duration)
    if attempts.refused(now):
        assert attempts.locked_until is not None
        if attempts.count == policy.attempts + 1:  # this reservation set the lock
            store.record_audit(actor, "login_locked", "account", name,
                               {"until": attempts.locked_until.isoformat(timespec="seconds")})
        store.record_audit(actor, "login_failed", "account", name,
                           {"reason": "locked", "via": via})
        raise Locked(LOCKED_LOGIN, retry_after=_retry_after(attempts.locked_until, now))
    user = store.user(username)
    live = user is not None and user.active
    # the same argon2 cost whether or not the user exists
    if verify_password(user.password_hash if user and live else _dummy_hash(), password) and \
            user is not None and live:
        store.clear_attempts("login", username, prune_before=now - policy.window
                             - policy.duration)
        return user
    reason = ("unknown_user" if user is None else "inactive_user" if not user.active
              else "wrong_password")
    store.record_audit(actor, "login_failed", "account", name, {"reason": reason, "via": via})
    locked = store.fail_attempt("login", username, now, policy.attempts, policy.duration)
    if locked is not None:
        store.record_audit(actor, "login_locked", "account", name,
                           {"until": locked.isoformat(timespec="seconds")})
    raise Unauthorized(WRONG_LOGIN)


def change_password(store: LoginStore, user: User, current: str, new: str, now: datetime,
                    limit: LockoutPolicy, policy: PasswordPolicy) -> None:
    """Change one's own password: the current one is checked at most `limit.attempts` times
    per window (TooManyRequests beyond), the new one must pass the policy."""
    attempts = store.reserve_attempt("password", user.username, now, limit.attempts,
                                     limit.window, limit.duration)
    if attempts.refused(now):
        assert attempts.locked_until is not None
        store.record_audit(user.actor, "password_change_failed", "user", user.username,
                           {"reason": "rate_limited"})
        raise TooManyRequests("原密码错误次数过多，请稍后再试",
                              retry_after=_retry_after(attempts.locked_until, now))
    if not verify_password(user.password_hash, current):
        store.record_audit(user.actor, "password_change_failed", "user", user.username,
                           {"reason": "wrong_password"})
        store.fail_attempt("password", user.username, now, limit.attempts, limit.duration)
        raise InvalidInput("原密码错误")
    store.clear_attempts("password", user.username)
    if new == current:
        raise InvalidInput("新密码不能与原密码相同")
    digest = choose_password(new, user.username, policy, (user.display_name,))
    store.update_user(user.username, {"password_hash": digest}, actor=user.actor)


@cache
def _dummy_hash() -> str:
    # hashed on first use, not at import (0.15-0.4 s of every `ccmap` command's start-up)
    return _hasher.hash("not-a-real-password")


def create_demo_users(store: LoginStore, unit: str) -> list[User]:
    """The demo accounts, one per role, all with the documented demo password."""
    password = hash_password(DEMO_PASSWORD)
    users = [
        User("admin", Role.admin, display_name="系统管理员"),
        User("planner", Role.planner, display_name="创城办规划员"),
        User("inspector", Role.inspector, display_name="督导组网格员"),
        User("unit1", Role.unit, unit=unit, display_name=f"{unit}联络员"),
        User("viewer", Role.viewer, display_name="街道领导"),
    ]
    for u in users:
        u.password_hash = password
        u.id = store.add_user(u, actor="demo")
    return users
