"""Jobs: uploads stream to disk and run in the bounded worker pool; GET /api/jobs/{id}."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import geo.jobs.uploads
from geo.jobs.runner import JobPool, Progress, _Throttled, run_job
from geo.model.errors import ImportRejected, RowProblem
from geo.store import Store
from server.app import create_app
from server.settings import Settings
from tests.conftest import FIXTURES, add_user, bearer, wait_for_job

LAYERS = FIXTURES / "layers"
LEDGER = ("编号,问题类型,经度,纬度\n" + "".join(
    f"J{i},乱堆乱放,121.47,31.23\n" for i in range(30))).encode()


def _wait_state(store: Store, job_id: int, state: str, tries: int = 400) -> dict[str, Any]:
    """Poll the store until the job reaches state (bounded)."""
    event = threading.Event()
    for _ in range(tries):
        job = store.job(job_id)
        if job["state"] == state:
            return job
        event.wait(0.025)
    raise AssertionError(f"job {job_id} is {store.job(job_id)['state']}, never {state}")


def test_rejected_file_job_fails_with_row_problems_and_writes_nothing(
        client: TestClient, store: Store, spool: Path) -> None:
    body = (LAYERS / "streets_with_point.geojson").read_bytes()
    r = client.post("/api/layers/street",
                    files={"file": ("streets.geojson", body, "application/geo+json")})
    job = wait_for_job(client, r)
    assert job["state"] == "failed" and job["kind"] == "layer_import"
    assert "未导入任何数据" in job["message"]
    assert job["result"]["error"] == "ImportRejected"
    assert {p["row"] for p in job["result"]["problems"]} == {2, 3}
    assert job["started_at"] and job["finished_at"]
    assert store.layer_counts() == {}
    assert list(spool.iterdir()) == []  # the uploaded file is gone with the job


def test_jobs_are_seen_by_their_submitter_and_admins_only(anon_client: TestClient,
                                                         store: Store) -> None:
    add_user(store, "p1", "inspector")
    add_user(store, "p2", "inspector")
    add_user(store, "boss", "admin")
    p1, p2 = bearer(anon_client, "p1"), bearer(anon_client, "p2")
    r = anon_client.post("/api/issues/import", headers=p1,
                         files={"file": ("台账.csv", LEDGER, "text/csv")})
    anon_client.headers.update(p1)
    job = wait_for_job(anon_client, r)
    assert job["state"] == "done" and job["result"]["imported"] == 30
    assert (job["done"], job["total"]) == (30, 30)
    url = r.json()["status_url"]
    assert anon_client.get(url, headers=p2).status_code == 404
    assert anon_client.get("/api/jobs", headers=p2).json() == []
    assert anon_client.get(url, headers=bearer(anon_client, "boss")).json()["id"] == job["id"]
    assert [j["id"] for j in anon_client.get("/api/jobs", headers=p1).json()] == [job["id"]]
    del anon_client.headers["Authorization"]
    assert anon_client.get(url).status_code == 401


def test_unknown_job_is_404(client: TestClient) -> None:
    r = client.get("/api/jobs/424242")
    assert r.status_code == 404 and "任务 424242 不存在" in r.json()["detail"]


@contextmanager
def _limited_client(store: Store, mb: float) -> Iterator[TestClient]:
    settings = Settings(database_url=store.url, basemap="none", max_upload_mb=mb)
    add_user(store, "admin1", "admin")
    with TestClient(create_app(settings, store=store)) as c:
        c.headers.update(bearer(c, "admin1"))
        yield c


def test_oversized_streamed_upload_is_413_and_leaves_nothing(store: Store, spool: Path) -> None:
    big = b"MC,lon,lat\n" + b"x,121.47,31.23\n" * 2000  # 30 kB against a 10 kB limit
    with _limited_client(store, 0.01) as c:
        # no Content-Length (chunked): the count while streaming stops it
        r = c.post("/api/layers/test_point", content=iter([big[i:i + 4096]
                                                          for i in range(0, len(big), 4096)]),
                   headers={"content-type": "application/geo+json"})
        assert r.status_code == 413, r.text
        assert "CCMAP_MAX_UPLOAD_MB" in r.json()["detail"]
        # multipart with Content-Length: refused before reading
        r = c.post("/api/issues/import", files={"file": ("台账.csv", big, "text/csv")})
        assert r.status_code == 413 and "CCMAP_MAX_UPLOAD_MB" in r.json()["detail"]
        assert "超过上限 0.01 MB" in r.json()["detail"]
    assert store.layer_counts() == {} and store.issue_count() == 0
    assert store.jobs() == []
    assert list(spool.iterdir()) == []


def test_oversized_chunked_multipart_is_413(store: Store, spool: Path) -> None:
    """A multipart body without Content-Length is cut off while it streams."""
    import httpx

    big = b"MC,lon,lat\n" + b"x,121.47,31.23\n" * 2000
    request = httpx.Request("POST", "http://x/", files={"file": ("a.csv", big, "text/csv")})
    body = request.read()
    with _limited_client(store, 0.01) as c:
        r = c.post("/api/issues/import", content=iter([body[i:i + 4096]
                                                      for i in range(0, len(body), 4096)]),
                   headers={"content-type": request.headers["content-type"]})
        assert r.status_code == 413, r.text
    assert store.issue_count() == 0 and store.jobs() == []
    assert list(spool.iterdir()) == []


def test_route_answers_202_while_the_work_runs_and_health_stays_up(
        client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    started, release = threading.Event(), threading.Event()
    real = geo.jobs.uploads._read_ledger

    def slow_read(up: geo.jobs.uploads.LedgerUpload) -> Any:
        started.set()
        release.wait(30)  # bounded: if the route waited for us, it would answer late
        return real(up)

    monkeypatch.setattr(geo.jobs.uploads, "_read_ledger", slow_read)
    r = client.post("/api/issues/import", files={"file": ("台账.csv", LEDGER, "text/csv")})
    assert r.status_code == 202 and not release.is_set()
    assert started.wait(30)
    job_id = r.json()["job_id"]
    for _ in range(3):  # the event loop answers while the job holds a worker thread
        assert client.get("/api/health").status_code == 200
        assert client.get(f"/api/jobs/{job_id}").json()["state"] == "running"
    release.set()
    job = wait_for_job(client, r)
    assert job["state"] == "done" and job["result"]["imported"] == 30


def test_pool_is_bounded_and_runs_jobs_in_order(store: Store) -> None:
    pool = JobPool(store, workers=1)
    release = threading.Event()
    try:
        first = pool.submit_job("slow", "user:a", lambda p: {"waited": release.wait(30)})
        second = pool.submit_job("quick", "user:a", lambda p: {"ok": True})
        _wait_state(store, first, "running")
        assert store.job(second)["state"] == "queued"  # one worker: it waits its turn
        release.set()
        assert _wait_state(store, second, "done")["result"] == {"ok": True}
        assert store.job(first)["result"] == {"waited": True}
    finally:
        release.set()
        pool.shutdown()


def test_shutdown_fails_queued_jobs_and_cleans_up(store: Store) -> None:
    pool = JobPool(store, workers=1)
    release = threading.Event()
    cleaned: list[str] = []
    running = pool.submit_job("slow", "user:a", lambda p: {"waited": release.wait(30)},
                              cleanup=lambda: cleaned.append("running"))
    queued = pool.submit_job("never", "user:a", lambda p: {}, cleanup=lambda: cleaned.append("q"))
    _wait_state(store, running, "running")
    threading.Timer(0.2, release.set).start()
    pool.shutdown()
    assert store.job(running)["state"] == "done"
    failed = store.job(queued)
    assert failed["state"] == "failed" and "server stopped" in failed["message"]
    assert sorted(cleaned) == ["q", "running"]


def test_the_upload_is_removed_before_the_outcome_is_recorded(store: Store) -> None:
    """A client that sees done/failed finds its uploaded file gone (CI once saw it linger)."""
    pool = JobPool(store, workers=1)
    submitted = threading.Event()
    ids: dict[str, int] = {}
    states_at_cleanup: dict[str, str] = {}

    def work(outcome: str) -> Any:
        def run(progress: Progress) -> dict[str, Any]:
            submitted.wait(30)  # ids[outcome] is known before the work (and cleanup) runs
            if outcome == "failed":
                raise ImportRejected("x.csv: 1 problem(s)", [RowProblem(2, "bad", "lon")])
            return {"ok": True}
        return run

    def cleanup(outcome: str) -> Any:
        return lambda: states_at_cleanup.update({outcome: store.job(ids[outcome])["state"]})

    try:
        for outcome in ("failed", "done"):
            submitted.clear()
            ids[outcome] = pool.submit_job(outcome, "user:a", work(outcome),
                                           cleanup=cleanup(outcome))
            submitted.set()
            _wait_state(store, ids[outcome], outcome)
    finally:
        submitted.set()
        pool.shutdown()
    assert states_at_cleanup == {"failed": "running", "done": "running"}


def test_run_job_failures_keep_the_report(store: Store, caplog: pytest.LogCaptureFixture
                                          ) -> None:
    def rejected(progress: Progress) -> dict[str, Any]:
        progress(5, 10)
        raise ImportRejected("x.csv: 1 problem(s)", [RowProblem(7, "bad coordinate", "lon")])

    job_id = store.add_job("issue_import", "user:a")
    run_job(store, job_id, rejected)
    job = store.job(job_id)
    assert (job["state"], job["message"], job["done"], job["total"]) == (
        "failed", "x.csv: 1 problem(s)", 5, 10)
    assert job["result"]["problems"] == [{"row": 7, "column": "lon", "reason": "bad coordinate",
                                          "severity": "error"}]

    def broken(progress: Progress) -> dict[str, Any]:
        raise KeyError("secret internals")

    job_id = store.add_job("issue_import", "user:a")
    with caplog.at_level(logging.ERROR, logger="ccmap.jobs"):
        run_job(store, job_id, broken)
    job = store.job(job_id)
    assert job["state"] == "failed" and "internal error" in job["message"]
    assert "secret" not in str(job["result"]) and "secret internals" in caplog.text


def test_progress_is_written_at_most_every_interval(store: Store) -> None:
    job_id = store.add_job("issue_import", "user:a")
    now = [100.0]
    progress = _Throttled(store, job_id, 0.5, clock=lambda: now[0])
    progress(1, 100)
    assert (store.job(job_id)["done"], store.job(job_id)["total"]) == (1, 100)
    now[0] += 0.2
    progress(50)
    assert store.job(job_id)["done"] == 1  # too soon: not written
    now[0] += 0.4
    progress(60)
    assert (store.job(job_id)["done"], store.job(job_id)["total"]) == (60, 100)


def test_heavy_exports_run_at_most_worker_threads_at_once(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import server.routes.exports

    inside, most = [0], [0]
    lock, entered, release = threading.Lock(), threading.Event(), threading.Event()

    def slow_export(_store: Store, out: Path, **_: Any) -> None:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        entered.set()
        release.wait(30)
        out.write_text("{}")
        with lock:
            inside[0] -= 1

    monkeypatch.setattr(server.routes.exports, "export_data", slow_export)
    settings = Settings(database_url=store.url, basemap="none", worker_threads=1)
    add_user(store, "admin1", "admin")
    answers: list[int] = []
    with TestClient(create_app(settings, store=store)) as c:
        c.headers.update(bearer(c, "admin1"))

        def download() -> None:
            answers.append(c.get("/api/export/data", params={"format": "geojson"}).status_code)

        threads = [threading.Thread(target=download) for _ in range(3)]
        for t in threads:
            t.start()
        assert entered.wait(30)
        for _ in range(3):  # the others wait for a slot without blocking the event loop
            assert c.get("/api/health").status_code == 200
        assert inside[0] == 1
        release.set()
        for t in threads:
            t.join(60)
    assert answers == [200, 200, 200] and most[0] == 1


def test_bad_import_requests_are_400_at_once_and_make_no_job(client: TestClient,
                                                             store: Store, spool: Path) -> None:
    r = client.post("/api/issues/import", content=LEDGER, headers={"content-type": "text/csv"})
    assert r.status_code == 400 and "multipart" in r.json()["detail"]
    r = client.post("/api/issues/import", data={"category_map": "{not json"},
                    files={"file": ("台账.csv", LEDGER, "text/csv")})
    assert r.status_code == 400 and "类别对照表不是有效的 JSON" in r.json()["detail"]
    r = client.post("/api/issues/import", data={"note": "no file"})
    assert r.status_code == 400
    assert store.jobs() == [] and store.issue_count() == 0
    assert list(spool.iterdir()) == []
