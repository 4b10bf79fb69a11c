"""The English locale over HTTP (issue 18): errors, pages, export header rows and the bulletin
answer in English for Accept-Language: en or a user's own setting, in Chinese otherwise."""

from __future__ import annotations

import csv
import io
import json
import re

from fastapi.testclient import TestClient

from geo.exports.bulletin import bulletin_context, render_bulletin
from geo.i18n import CJK, messages, page_messages
from geo.store import Store
from tests.conftest import add_user, bearer
from tests.geo.analytics.test_indicators import COMMUNITIES, NOW, UNITS, build_october

EN = {"Accept-Language": "en-GB,en;q=0.9"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def _issue(client: TestClient) -> int:
    r = client.post("/api/issues", json={"category": "street_vending", "lon": 121.47,
                                         "lat": 31.23, "description": "stall on the pavement"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_an_errors_reason_is_english_for_accept_language_en(client: TestClient,
                                                           anon_client: TestClient) -> None:
    iid = _issue(client)
    move = {"to": "closed", "version": 1}
    zh = client.post(f"/api/issues/{iid}/transitions", json=move)
    en = client.post(f"/api/issues/{iid}/transitions", json=move, headers=EN)
    assert zh.status_code == en.status_code == 409
    assert zh.json()["detail"].startswith("不允许从「上报」变为「结案」")
    assert en.json()["detail"].startswith("reported → closed is not an allowed transition")
    assert not CJK.search(en.json()["detail"])
    # not logged in: the 401 is negotiated the same way
    anon_client.headers.pop("Authorization", None)
    r = anon_client.get("/api/me", headers=EN)
    assert r.status_code == 401 and not CJK.search(r.json()["detail"])
    assert "请先登录" in anon_client.get("/api/me").json()["detail"]


def test_a_users_own_setting_wins_and_is_audited(client: TestClient, store: Store) -> None:
    """Both backends: the setting is stored in users.locale (migration 0027)."""
    add_user(store, "reader", "viewer")
    me = bearer(client, "reader")
    assert client.get("/api/me", headers=me).json()["locale"] is None
    r = client.put("/api/me/locale", json={"locale": "en"}, headers=me)
    assert r.status_code == 200 and r.json()["locale"] == "en"
    assert store.user("reader").locale == "en"  # type: ignore[union-attr]
    [entry] = [a for a in store.audit_log(object_type="user")
               if a["object_id"] == "reader" and a["action"] == "update"]
    assert entry["actor"] == "user:reader" and "locale" in str(entry["diff"])
    # the browser asks for Chinese; the user's setting says English
    r = client.get("/api/issues/999999", headers={**me, **ZH})
    assert r.status_code == 404 and not CJK.search(r.json()["detail"])
    assert client.put("/api/me/locale", json={"locale": "fr"}, headers=me).status_code == 422
    assert client.put("/api/me/locale", json={"locale": None}, headers=me).json()["locale"] is None
    assert store.user("reader").locale is None  # type: ignore[union-attr]


def test_pages_are_english_with_lang_en(client: TestClient, store: Store) -> None:
    r = client.get("/login", headers=EN)
    assert '<html lang="en">' in r.text and "Password" in r.text and not CJK.search(r.text)
    zh = client.get("/login")
    assert '<html lang="zh-CN">' in zh.text and "密码" in zh.text
    assert 'id="ccmap-i18n"' not in zh.text  # Chinese pages carry no catalog
    assert client.get("/login?lang=en").text.count("Log in") >= 2
    # the map page: folium's shell says its language, its labels are English, the catalog
    # is embedded for the scripts' t()
    page = client.get("/", headers=EN).text
    assert '<html lang="en">' in page and 'id="ccmap-i18n"' in page
    assert '"label": "Zone"' in page and '"Issue heat"' in page


def test_a_page_embeds_the_texts_of_its_scripts_not_the_servers_messages(
        client: TestClient) -> None:
    for path in ("/", "/field", "/admin"):
        page = client.get(path, headers=EN).text
        found = re.search(r'<script[^>]* id="ccmap-i18n">(.*?)</script>',
                          page, re.DOTALL)
        assert found, path
        embedded = json.loads(found.group(1))
        assert embedded == page_messages("en")
        assert embedded["导入失败"] == "Import failed"  # a text of the scripts
        # an error message: the server sends it translated, the page need not carry it
        assert "推送 {id} 不存在" not in embedded and "推送 {id} 不存在" in messages("en")


def _csv_header(body: bytes) -> list[str]:
    return next(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_export_header_rows_are_english(client: TestClient, store: Store) -> None:
    _issue(client)
    header = _csv_header(client.get("/api/issues/export", headers=EN).content)
    assert header[:4] == ["No.", "External no.", "Issue type", "Status"]
    row = list(csv.reader(io.StringIO(client.get("/api/issues/export", headers=EN)
                                      .content.decode("utf-8-sig"))))[1]
    assert row[2] == "Street vending on the road" and row[3] == "Reported"
    assert _csv_header(client.get("/api/issues/export").content)[:2] == ["编号", "外部编号"]
    for url in ("/api/indicators?format=csv", "/api/ranking?format=csv",
                "/api/ranking?format=csv&basis=indicators", "/api/audit?format=csv",
                "/api/audit?format=csv&limit=5"):
        header = _csv_header(client.get(url, headers=EN).content)
        assert header and not any(CJK.search(h) for h in header), (url, header)
        assert any(CJK.search(h) for h in _csv_header(client.get(url).content)), url


def test_the_bulletin_in_english(store: Store) -> None:
    build_october(store)
    html = render_bulletin(bulletin_context(store, "2026-10", now=NOW, with_map=False,
                                            locale="en"))
    assert '<html lang="en">' in html
    assert "2. Evaluation indicators" in html and "Civilised City work report (2026-10)" in html
    assert "a closure rate of 93.72%" in html
    assert "<td>Closure rate</td><td>93.72%</td><td>78.26%</td>" \
           "<td>up 15.46 percentage points</td>" in html
    user_data = [*UNITS, *COMMUNITIES, *(f"{z}号责任区" for z in range(1, 4))]
    text = html
    for name in user_data:
        text = text.replace(name, "")
    assert not CJK.search(text), re.findall(r".{30}[\u3000-\u9fff\uff00-\uffef]+.{10}", text)
