"""Jobs a dead process left queued/running are failed after CCMAP_JOB_STALE_MINUTES without a
heartbeat; a live pool beats for its jobs; GET /api/jobs pages; the collector stays enabled
while jobs run (both backends)."""

from __future__ import annotations

import gc
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from geo.jobs.runner import JOB_GC_THRESHOLD, STALE_MESSAGE, JobPool, fail_stale, worker_id
from geo.store import Store
from geo.store.schema import jobs as jobs_t
from server.app import create_app
from server.settings import Settings
from tests.conftest import add_user, bearer


def _set_heartbeat(store: Store, job_id: int, at: datetime) -> None:
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(update(jobs_t).where(jobs_t.c.id == job_id).values(heartbeat_at=at))


def _running(store: Store, actor: str, beat_ago: timedelta) -> int:
    job_id = store.add_job("issue_import", actor, worker="elsewhere:1")
    store.update_job(job_id, state="running", started_at=datetime.now() - beat_ago)
    _set_heartbeat(store, job_id, datetime.now() - beat_ago)
    return job_id


def _wait(predicate: Any, tries: int = 400) -> None:
    event = threading.Event()
    for _ in range(tries):
        if predicate():
            return
        event.wait(0.025)
    raise AssertionError("condition never met")


def test_job_without_heartbeat_is_failed_when_read(client: TestClient, store: Store) -> None:
    dead = _running(store, "user:admin1", timedelta(minutes=11))
    alive = _running(store, "user:admin1", timedelta(minutes=9))  # default threshold: 10 min
    queued = store.add_job("layer_import", "user:admin1")
    _set_heartbeat(store, queued, datetime.now() - timedelta(hours=2))
    done = _running(store, "user:admin1", timedelta(hours=1))
    store.update_job(done, state="done", result={"imported": 3})
    _set_heartbeat(store, done, datetime.now() - timedelta(hours=1))

    job = client.get(f"/api/jobs/{dead}").json()
    assert job["state"] == "failed" and job["message"] == STALE_MESSAGE
    assert job["result"]["error"] == "WorkerLost" and job["finished_at"]
    assert store.job(dead)["state"] == "failed"  # stored, not only reported
    assert client.get(f"/api/jobs/{alive}").json()["state"] == "running"
    assert store.job(queued)["state"] == "queued"  # reading one job touches that job only
    assert client.get(f"/api/jobs/{queued}").json()["state"] == "failed"
    assert client.get(f"/api/jobs/{done}").json()["state"] == "done"
    assert store.job(done)["result"] == {"imported": 3}


def test_threshold_is_a_setting_and_stale_jobs_fail_at_start(store: Store, db_url: str) -> None:
    job_id = _running(store, "user:x", timedelta(minutes=3))
    settings = Settings(database_url=db_url, basemap="none", job_stale_minutes=5)
    with TestClient(create_app(settings, store=store)):
        assert store.job(job_id)["state"] == "running"
    settings = Settings(database_url=db_url, basemap="none", job_stale_minutes=2)
    with TestClient(create_app(settings, store=store)):  # start-up fails it, no read needed
        row = store.job(job_id)
        assert row["state"] == "failed" and row["message"] == STALE_MESSAGE
    with pytest.raises(ValueError, match="job_stale_minutes"):
        Settings(database_url=db_url, job_stale_minutes=0.5)  # under the 1-minute heartbeat


def test_fail_stale_leaves_a_job_that_beats_again(store: Store) -> None:
    job_id = _running(store, "user:x", timedelta(minutes=30))
    store.heartbeat_jobs([job_id])
    assert fail_stale(store, timedelta(minutes=10)) == []
    assert store.job(job_id)["state"] == "running"
    assert fail_stale(store, timedelta(minutes=10), now=datetime.now() + timedelta(minutes=11)) \
        == [job_id]


def test_pool_records_its_process_and_beats_without_progress(store: Store) -> None:
    pool = JobPool(store, workers=1)
    pool.heartbeat_interval = 0.05
    release, started = threading.Event(), threading.Event()

    def work(_: Any) -> dict[str, Any]:
        started.set()
        release.wait(30)
        return {}

    try:
        running = pool.submit_job("slow", "user:a", work)
        queued = pool.submit_job("slow", "user:a", lambda p: {})
        assert started.wait(30)
        assert store.job(running)["worker"] == worker_id()
        past = datetime.now() - timedelta(hours=1)
        for job_id in (running, queued):
            _set_heartbeat(store, job_id, past)
        _wait(lambda: all(store.job(j)["heartbeat_at"] > past + timedelta(minutes=59)
                          for j in (running, queued)))
        assert fail_stale(store, timedelta(minutes=10)) == []
        release.set()
        _wait(lambda: store.job(queued)["state"] == "done")
    finally:
        release.set()
        pool.shutdown()
    assert store.job(running)["state"] == "done"


def test_collector_stays_enabled_with_raised_thresholds_while_jobs_run(store: Store) -> None:
    before = gc.get_threshold()
    pool = JobPool(store, workers=1)
    release, started = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def work(_: Any) -> dict[str, Any]:
        started.set()
        release.wait(30)
        seen.update(enabled=gc.isenabled(), threshold=gc.get_threshold())
        return {}

    try:
        job_id = pool.submit_job("slow", "user:a", work)
        assert started.wait(30)
        release.set()
        _wait(lambda: store.job(job_id)["state"] == "done")
    finally:
        release.set()
        pool.shutdown()
    assert seen == {"enabled": True, "threshold": JOB_GC_THRESHOLD}
    assert gc.isenabled() and gc.get_threshold() == before


def test_job_list_pages_with_a_total(store: Store, db_url: str) -> None:
    settings = Settings(database_url=db_url, basemap="none", page_size=10, max_page=20)
    add_user(store, "boss", "admin")
    add_user(store, "p1", "inspector")
    ids = [store.add_job("issue_import", "user:boss") for _ in range(23)]
    mine = store.add_job("issue_import", "user:p1")
    with TestClient(create_app(settings, store=store)) as c:
        admin = bearer(c, "boss")
        r = c.get("/api/jobs", headers=admin)
        assert r.status_code == 200 and r.headers["x-total-count"] == "24"
        seen = [j["id"] for j in r.json()]
        assert seen == sorted([*ids, mine], reverse=True)[:10]
        while 'rel="next"' in r.headers.get("link", ""):
            url = r.headers["link"].split(">")[0].lstrip("<")
            r = c.get(url, headers=admin)
            seen += [j["id"] for j in r.json()]
        assert sorted(seen) == sorted([*ids, mine])
        r = c.get("/api/jobs", params={"limit": 21}, headers=admin)
        assert r.status_code == 422 and "CCMAP_MAX_PAGE" in r.json()["detail"]
        r = c.get("/api/jobs", headers=bearer(c, "p1"))
        assert [j["id"] for j in r.json()] == [mine] and r.headers["x-total-count"] == "1"
        assert "link" not in r.headers


def test_migration_gives_existing_jobs_a_heartbeat(store: Store) -> None:
    engine = store.engine  # type: ignore[attr-defined]
    created = datetime(2026, 11, 1, 8, 0)
    try:
        store.migrate("0010", downgrade=True)  # type: ignore[attr-defined]
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO jobs (kind, state, actor, created_at, done, message) "
                              "VALUES ('x', 'running', 'user:a', :at, 0, '')"), {"at": created})
    finally:
        store.migrate()  # type: ignore[attr-defined]  # head again whatever happened
    with engine.connect() as conn:
        row = conn.execute(select(jobs_t.c.heartbeat_at, jobs_t.c.worker)).one()
    assert row.heartbeat_at == created and row.worker is None
