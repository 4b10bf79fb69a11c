"""The admin page at a city centre's size: the audit log (留痕) says how much of it is shown and
pages on, never showing a first page as if it were all; the users and units are filtered by
what an admin types; the units the zones name are registered from it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from shapely.geometry import box

from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.store import Store
from tests.browser.conftest import login, new_server
from tests.conftest import TEST_PASSWORD, add_user

pytestmark = pytest.mark.browser

ENTRIES = 450  # more than two pages of 200


ZONE_UNITS = ["区城管执法局", "区城管执法局", "区市场监管局", "示范街道办"]


def _audited(store: Store) -> None:
    add_user(store, "auditadmin", "admin")
    store.add_features([  # zones naming units the registry lacks
        Feature(Kind.zone, box(121.46 + k * 0.01, 31.22, 121.47 + k * 0.01, 31.23),
                name=f"第{k}区", category="grid", properties={"zone_type": "grid", "unit": u})
        for k, u in enumerate(ZONE_UNITS)])
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


def test_the_units_the_zones_name_are_registered_from_the_page(page: Any,
                                                              audited: str) -> None:
    login(page, audited, "auditadmin", TEST_PASSWORD)
    page.goto(audited + "/admin")
    summary = page.locator("#unregistered-count")
    summary.wait_for()
    assert summary.inner_text() == "责任区中有 3 个责任单位未登记"
    page.locator("#unregistered summary").click()
    rows = page.locator("#unregistered-units tbody tr")
    assert rows.all_inner_texts()[0].split("\t")[:2] == ["区城管执法局", "2"]  # most zones first
    rows.filter(has_text="示范街道办").get_by_role("button", name="登记").click()
    units = page.locator("#units tbody")
    expect(units).to_contain_text("示范街道办")
    expect(summary).to_have_text("责任区中有 2 个责任单位未登记")
    page.get_by_role("button", name="全部登记").click()
    expect(page.locator("#unregistered")).to_be_hidden()
    for unit in set(ZONE_UNITS):
        expect(units).to_contain_text(unit)
    expect(page.locator("#admin-message")).to_have_text("已登记 2 个单位")
