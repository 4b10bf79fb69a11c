"""The admin page at a city centre's size: the audit log (留痕) says how much of it is shown and
pages on, never showing a first page as if it were all; the users and units are filtered by
what an admin types."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from geo.store import Store
from tests.browser.conftest import login, new_server
from tests.conftest import TEST_PASSWORD, add_user

pytestmark = pytest.mark.browser

ENTRIES = 450  # more than two pages of 200


def _audited(store: Store) -> None:
    add_user(store, "auditadmin", "admin")
    for k in range(1, 26):  # a centre's grid workers (a city has hundreds)
        add_user(store, f"grid{k:02d}", "inspector")
    for k in range(ENTRIES):
        store.record_audit("inspector7", "issue.update", "issue", str(k), {"n": k})


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose audit log holds ENTRIES entries (and the admin's own)."""
    with new_server(tmp_path_factory.mktemp("audit"), _audited) as url:
        yield url


def test_the_audit_log_says_how_much_is_shown_and_pages_on(page: Any, audited: str,
                                                          tmp_path: Path) -> None:
    login(page, audited, "auditadmin", TEST_PASSWORD)
    page.goto(audited + "/admin")
    rows = page.locator("#audit tbody tr")
    count = page.locator("#audit-count")
    more = page.get_by_role("button", name="更多", exact=True).last
    page.wait_for_function("() => document.querySelectorAll('#audit tbody tr').length > 0")
    total = int(count.inner_text().rsplit("共", 1)[1].split()[0])
    assert total >= ENTRIES
    assert rows.count() == 200 and count.inner_text().startswith("显示最新 200 条")
    # newest first: the last entry written comes first (after the admin's login)
    assert "\tissue 449\t" in "".join(rows.all_inner_texts()[:3])
    seen = 200
    while seen < total:
        assert more.is_visible()
        more.click()
        seen = min(seen + 200, total)
        page.wait_for_function("(n) => document.querySelectorAll('#audit tbody tr').length"
                               " === n", arg=seen)
        assert count.inner_text().startswith(f"显示最新 {seen} 条")
    assert more.is_hidden()
    # every entry once, the oldest last
    ids = [r.split("\t")[3] for r in rows.all_inner_texts()]
    listed = [i for i in ids if i.startswith("issue ")]
    assert sorted(listed, key=lambda i: -int(i.split()[1])) == listed
    assert len(set(listed)) == ENTRIES


def test_the_users_are_filtered_by_what_the_admin_types(page: Any, audited: str) -> None:
    login(page, audited, "auditadmin", TEST_PASSWORD)
    page.goto(audited + "/admin")
    rows = page.locator("#users tbody tr")
    page.wait_for_function("() => document.querySelectorAll('#users tbody tr').length > 25")
    total = rows.count()
    count = page.locator("#users-count")
    assert count.inner_text() == f"显示 {total} / {total} 条"
    page.get_by_role("searchbox", name="筛选用户").fill("grid1")
    shown = page.locator("#users tbody tr:not([hidden])")
    assert sorted(t.split("\t")[0] for t in shown.all_inner_texts()) == [
        f"grid{k}" for k in range(10, 20)]
    assert count.inner_text() == f"显示 10 / {total} 条"
    assert rows.filter(has_text="auditadmin").is_hidden()  # not on screen
    page.get_by_role("searchbox", name="筛选用户").fill("督导")  # by role, as shown
    assert shown.count() == 25
    page.get_by_role("searchbox", name="筛选用户").fill("")
    assert shown.count() == total
