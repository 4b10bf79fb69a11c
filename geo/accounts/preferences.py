"""A user's own preferences: the UI language (issue 18)."""

from __future__ import annotations

from geo.i18n import LOCALES
from geo.model.errors import InvalidInput
from geo.model.users import User
from geo.store import AccountStore


def set_locale(store: AccountStore, user: User, locale: str | None) -> User:
    """Set user's own UI language (one of geo.i18n.LOCALES; None: follow the browser's
    Accept-Language); audited as an update of the user."""
    if locale is not None and locale not in LOCALES:
        raise InvalidInput(f"不支持的界面语言 {locale[:20]!r}：可选 {', '.join(LOCALES)}")
    return store.update_user(user.username, {"locale": locale}, actor=user.actor)
