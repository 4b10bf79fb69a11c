"""The admin's working calendar and time limits, in Chromium over the demo city: an office
enters next year's Spring Festival before the holiday package knows it, and the deadlines count
it at once; it sets its own time limit for a category and goes back to the default."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import login
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser
DEADLINE = "/api/calendar/deadline?start=2027-02-05T16:00:00&amount=1&unit=working_days"


def _deadline(page: Any, base: str) -> str:
    return str(page.request.get(base + DEADLINE).json()["deadline"])


def test_an_admin_enters_a_holiday_of_next_year_and_a_time_limit(page: Any,
                                                                 live_server: str) -> None:
    login(page, live_server, "admin")
    page.goto(live_server + "/admin")
    page.wait_for_selector("#time-limits tbody tr[data-category=clutter][data-urgency=normal]")
    assert _deadline(page, live_server) == "2027-02-08T16:00:00"  # Friday → Monday
    page.fill("#calendar-form input[name=start_date]", "2027-02-06")
    page.fill("#calendar-form input[name=end_date]", "2027-02-13")
    page.select_option("#calendar-form select[name=kind]", "off")
    page.fill("#calendar-form input[name=note]", "2027 年春节 <b>放假</b>")
    page.click("#calendar-form button[type=submit]")
    row = page.locator("#calendar-days tbody tr", has_text="2027-02-06")
    row.wait_for()
    assert "2027 年春节 <b>放假</b>" in row.inner_text()  # shown as text, not markup
    assert page.locator("#calendar-days tbody b").count() == 0
    assert _deadline(page, live_server) == "2027-02-15T16:00:00"  # after the week off

    clutter = page.locator("#time-limits tbody tr[data-category=clutter][data-urgency=normal]")
    clutter.locator("input").fill("2")
    clutter.locator("select").select_option("working_days")
    clutter.get_by_role("button", name="保存").click()
    page.wait_for_selector("#time-limits tr.office-limit[data-category=clutter]")
    [mine] = [x for x in page.request.get(live_server + "/api/time-limits").json()
              if x["category"] == "clutter" and x["urgency"] == "normal"]
    assert (mine["amount"], mine["unit"], mine["office"]) == (2, "working_days", True)
    page.locator("#calendar-section").screenshot(path=str(ARTIFACTS / "calendar-admin.png"))

    # leave the shared demo server as it was
    page.locator("#time-limits tr.office-limit[data-category=clutter]").get_by_role(
        "button", name="恢复默认").click()
    page.wait_for_selector("#time-limits tr.office-limit[data-category=clutter]",
                           state="detached")
    row.get_by_role("button", name="删除").click()
    row.wait_for(state="detached")
    assert _deadline(page, live_server) == "2027-02-08T16:00:00"
