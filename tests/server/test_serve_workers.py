"""`ccmap serve --workers 2`: what a user relies on holds whichever process answers.

One server per backend runs as a child process on a free port. Keep-alive connections stay
with the worker that accepted them, so each test talks to both workers on purpose: a
connection's worker is read from the access log (each line carries the process id) after a
probe request, and connections are opened until one is held by each worker.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bench.serve import free_port, serving_workers
from geo.maps.tilecache import TREE_MADE
from geo.store import DEFAULT_POOL_SIZE, open_store
from geo.tiling.tiles import tile_of
from server.cli import main
from server.settings import CONNECTION_BUDGET, MAX_DEFAULT_WORKERS, Settings, usable_cores
from tests.conftest import ROOT, TEST_PASSWORD, _postgis_schema, add_user

WORKERS = 2
LOCKOUT_ATTEMPTS = 4
START_TIMEOUT_S = 600.0  # each worker loads the GIS libraries; slow on a busy machine
LON, LAT, Z = 121.47, 31.23, 12


@dataclass
class Served:
    """A running `ccmap serve --workers 2` and its log."""

    port: int
    log: Path
    process: subprocess.Popen[bytes]
    seen: dict[str, int] = field(default_factory=dict)

    def pid_of_probe(self, probe: str, timeout: float = 60.0) -> int:
        """The worker whose access log line holds probe (waits for the line)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log.read_text(errors="replace").splitlines():
                if probe in line and '"GET ' in line:
                    found = re.search(r"\[(\d+)\]", line)
                    assert found, line
                    return int(found.group(1))
            time.sleep(0.05)
        raise AssertionError(f"no access log line for {probe} in {self.log}")

    def started_workers(self) -> set[int]:
        """Workers whose application start-up completed."""
        text = self.log.read_text(errors="replace")
        return {int(p) for p in re.findall(r"\[(\d+)\] Application startup complete", text)}


class Worker:
    """A keep-alive HTTP connection held by one worker process."""

    def __init__(self, served: Served, conn: http.client.HTTPConnection, pid: int) -> None:
        self.served, self.conn, self.pid = served, conn, pid

    def call(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request on this worker's connection: status, headers (lower-case), body."""
        self.conn.request(method, path, body=body, headers=headers or {})
        resp = self.conn.getresponse()
        data = resp.read()
        assert resp.getheader("connection", "").lower() != "close", "worker closed the connection"
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def json(self, method: str, path: str, doc: Any = None, token: str | None = None,
             expect: int = 200) -> Any:
        """A JSON request (bearer token when given); asserts the status, returns the body."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = None
        if doc is not None:
            body = json.dumps(doc).encode()
            headers["Content-Type"] = "application/json"
        status, _, data = self.call(method, path, body, headers)
        assert status == expect, (self.pid, method, path, status, data[:300])
        return json.loads(data) if data else None


def identified(served: Served) -> Worker:
    """A new connection and the worker holding it (a probe request, then the access log)."""
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=120)
    probe = uuid.uuid4().hex
    conn.request("GET", f"/api/health?probe={probe}")
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200
    return Worker(served, conn, served.pid_of_probe(probe))


@contextlib.contextmanager
def one_per_worker(served: Served) -> Iterator[tuple[Worker, Worker]]:
    """Two connections held by two different workers."""
    got: dict[int, Worker] = {}
    extra: list[Worker] = []
    try:
        for _ in range(200):
            w = identified(served)
            if w.pid in got:
                extra.append(w)  # kept open meanwhile: the next one may go to another worker
            else:
                got[w.pid] = w
            if len(got) == WORKERS:
                break
        assert len(got) == WORKERS, f"every connection went to {list(got)}"
        a, b = got.values()
        yield a, b
    finally:
        for w in [*got.values(), *extra]:
            w.conn.close()


@contextlib.contextmanager
def serve_workers(db_url: str, log: Path, workers: int | None = WORKERS) -> Iterator[Served]:
    """`ccmap serve --workers N` (None: without the option, one per core) on a free port until
    every worker has started."""
    expected = workers or min(usable_cores(), MAX_DEFAULT_WORKERS)
    port = free_port()
    env = {**os.environ, "CCMAP_BASEMAP": "none", "CCMAP_TILE_CACHE_DIR": str(log.parent / "tiles"),
           "CCMAP_LOCKOUT_ATTEMPTS": str(LOCKOUT_ATTEMPTS)}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--db", db_url,
                                 "--host", "127.0.0.1", "--port", str(port),
                                 *(["--workers", str(workers)] if workers else [])],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                start_new_session=True)
        served = Served(port, log, proc)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while len(served.started_workers()) < expected:
                assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, f"workers did not start: see {log}"
                time.sleep(0.2)
            yield served
        finally:
            proc.terminate()  # uvicorn's parent stops its workers, then exits
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def served(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Two workers serving a small database (an admin and a viewer) on each backend."""
    tmp = tmp_path_factory.mktemp(f"workers_{request.param}")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp / 'ccmap.db'}"
        else:
            url = stack.enter_context(_postgis_schema())
        store = open_store(url)
        try:
            add_user(store, "admin1", "admin")
            add_user(store, "viewer1", "viewer")
        finally:
            store.close()
        yield stack.enter_context(serve_workers(url, tmp / "serve.log"))


def login(w: Worker, username: str, password: str = TEST_PASSWORD) -> tuple[int, Any]:
    """POST /api/auth/token on this worker: status and body."""
    form = urllib.parse.urlencode({"username": username, "password": password}).encode()
    status, _, data = w.call("POST", "/api/auth/token", form,
                             {"Content-Type": "application/x-www-form-urlencoded"})
    return status, json.loads(data)


def test_a_login_lockout_counts_attempts_made_on_every_worker(served: Served) -> None:
    with one_per_worker(served) as (a, b):
        for w in (a, b) * (LOCKOUT_ATTEMPTS // 2):  # half the attempts on each worker
            assert login(w, "viewer1", "wrong-password")[0] == 401
        # the limit was reached across both: neither lets the right password in now
        for w in (a, b):
            status, body = login(w, "viewer1")
            assert status == 423, (w.pid, body)
        assert login(a, "admin1")[0] == 200  # only that account is locked


def test_a_job_is_followed_to_its_end_on_either_worker(served: Served) -> None:
    rows = "".join(f"W{i},小广告/牛皮癣,{LON + i * 1e-4:.4f},{LAT:.4f},2026/11/20 08:30,上报\n"
                   for i in range(50))
    csv_bytes = ("编号,问题类型,经度,纬度,上报时间,状态\n" + rows).encode("utf-8")
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"ledger.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode() + csv_bytes \
        + f"\r\n--{boundary}--\r\n".encode()
    with one_per_worker(served) as (a, b):
        token = login(a, "admin1")[1]["access_token"]
        status, headers, data = a.call("POST", "/api/issues/import", body, {
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert status == 202, data
        url = headers["location"]
        job: dict[str, Any] = {}
        deadline = time.monotonic() + 300
        while job.get("state") not in ("done", "failed"):  # polls alternate between workers
            assert time.monotonic() < deadline, job
            time.sleep(0.05)  # the polling interval (well inside uvicorn's 5 s keep-alive)
            for w in (b, a):
                job = w.json("GET", url, token=token)
        assert job["state"] == "done", job
        assert job["result"]["imported"] == 50 and job["done"] == 50, job
        for w in (a, b):  # the worker that did not run it sees the same end
            assert w.json("GET", url, token=token) == job
            assert w.json("GET", "/api/issues?page_size=1", token=token)["total"] >= 50
            listed = w.json("GET", "/api/jobs", token=token)
            assert [j["state"] for j in listed if j["id"] == job["id"]] == ["done"]


def test_a_tile_etag_changes_after_an_edit_whatever_worker_answers(served: Served) -> None:
    x, y = tile_of(LON, LAT, Z)
    path = f"/api/tiles/issues/{Z}/{x}/{y}.mvt"
    with one_per_worker(served) as (a, b):
        token = login(b, "admin1")[1]["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        issue = a.json("POST", "/api/issues", {"category": "illegal_ads", "lon": LON,
                                               "lat": LAT}, token=token, expect=201)

        def tile(w: Worker, tag: str | None = None) -> tuple[int, str, bytes]:
            status, headers, data = w.call("GET", path, headers={
                **auth, **({"If-None-Match": tag} if tag else {})})
            assert status in (200, 304), (w.pid, status, data[:200])
            return status, headers["etag"], data

        # both workers answer (and cache) the tile with the same ETag; either knows it
        status_a, tag, body = tile(a)
        status_b, tag_b, body_b = tile(b)
        assert (status_a, status_b, tag_b) == (200, 200, tag) and body_b == body
        assert tile(b, tag)[0] == tile(a, tag)[0] == 304
        # an edit on one worker: the other's cached tile is not served any more
        b.json("POST", f"/api/issues/{issue['id']}/transitions",
               {"to": "accepted", "version": issue["version"]}, token=token)
        status_a, new_tag, _ = tile(a, tag)
        status_b, new_tag_b, _ = tile(b, tag)
        assert (status_a, status_b) == (200, 200) and new_tag != tag and new_tag_b == new_tag
        assert tile(a, new_tag)[0] == tile(b, new_tag)[0] == 304


def test_serving_makes_the_tile_cache_directories_before_the_first_request(
        served: Served) -> None:
    log = served.log.read_text(errors="replace")
    made = re.search(r"准备瓦片缓存目录 (\S+)", log)
    assert made, log[-2000:]
    root = Path(made.group(1))
    assert (root / TREE_MADE).is_file()
    assert sum(1 for p in root.glob("*/*") if p.is_dir()) == 16 * 256
    assert log.index(made.group(0)) < log.index("Started server process")


def test_workers_that_could_not_share_a_database_are_refused(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--db", "sqlite:///:memory:", "--workers", "2"]) == 2
    assert "内存 SQLite 数据库在各进程中互不相同" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--workers", "0"])
    assert exc.value.code == 2 and "must be at least 1" in capsys.readouterr().err


def test_a_bad_setting_in_the_environment_is_named_not_a_traceback(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCMAP_WORKERS", "-1")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "CCMAP_WORKERS='-1'" in err and "greater than or equal to 0" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_serve_runs_one_process_per_core_by_default(
        backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CCMAP_WORKERS", raising=False)
    monkeypatch.delenv("CCMAP_DB_POOL_SIZE", raising=False)
    with contextlib.ExitStack() as stack:
        url = (f"sqlite:///{tmp_path / 'ccmap.db'}" if backend == "sqlite"
               else stack.enter_context(_postgis_schema()))
        served = stack.enter_context(serve_workers(url, tmp_path / "serve.log", workers=None))
        cores = min(usable_cores(), MAX_DEFAULT_WORKERS)
        assert len(served.started_workers()) == cores
        first = next(line for line in served.log.read_text(errors="replace").splitlines()
                     if line.startswith("ccmap: serving "))
        assert (f"with {cores} worker processes" in first) == (cores > 1), first
        assert serving_workers(served.log) == cores  # what the benchmarks wait for
        if backend == "postgis":  # the processes' pools together within PostgreSQL's limit
            found = re.search(r"\((\d+) PostgreSQL connections each\)", first)
            assert found, first
            assert cores * 2 * int(found.group(1)) <= CONNECTION_BUDGET, first
        # any of them answers
        conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
        conn.request("GET", "/api/health")
        assert conn.getresponse().status == 200


def test_serve_with_one_worker_answers_from_its_own_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--workers 1` (what bench_tiles asks for, and a small office's choice): the command's own
    process serves, no worker processes, whatever the machine's cores."""
    monkeypatch.delenv("CCMAP_WORKERS", raising=False)
    with serve_workers(f"sqlite:///{tmp_path / 'ccmap.db'}", tmp_path / "serve.log",
                       workers=1) as served:
        assert served.started_workers() == {served.process.pid}
        first = next(line for line in served.log.read_text(errors="replace").splitlines()
                     if line.startswith("ccmap: serving "))
        assert "worker processes" not in first, first
        assert serving_workers(served.log) == 1
        conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
        conn.request("GET", "/api/health")
        assert conn.getresponse().status == 200
        assert served.pid_of_probe("/api/health") == served.process.pid


def test_the_default_pool_is_shared_so_every_process_stays_within_postgresqls_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CCMAP_DB_POOL_SIZE", raising=False)
    url = "postgresql://postgres@127.0.0.1:5432/ccmap"
    settings = Settings(database_url=url)
    assert settings.pool_per_process(1) == settings.db_pool_size == DEFAULT_POOL_SIZE
    for processes in (2, 4, 8, 16, 40):
        pool = settings.pool_per_process(processes)
        assert 1 <= pool <= DEFAULT_POOL_SIZE
        assert processes * 2 * pool <= CONNECTION_BUDGET, processes  # bursts: twice the pool
    assert settings.pool_per_process(8) < settings.pool_per_process(2)
    # a pool the operator set is theirs, from the environment or given
    monkeypatch.setenv("CCMAP_DB_POOL_SIZE", "15")
    assert Settings(database_url=url).pool_per_process(8) == 15
    assert Settings(database_url=url, db_pool_size=30).pool_per_process(8) == 30


def test_the_default_processes_are_the_cores_up_to_eight_and_one_for_an_in_memory_database(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CCMAP_WORKERS", raising=False)
    monkeypatch.setattr("server.settings.usable_cores", lambda: 6)
    assert Settings(database_url="sqlite:////tmp/city.db").server_processes() == 6
    assert Settings(database_url="sqlite:////tmp/city.db", workers=3).server_processes() == 3
    assert Settings(database_url="sqlite:///:memory:").server_processes() == 1
    memory_uri = "sqlite:///file:city?mode=memory&cache=shared&uri=true"
    assert Settings(database_url=memory_uri).server_processes() == 1
    monkeypatch.setattr("server.settings.usable_cores", lambda: 64)  # a big server: at most 8
    assert Settings(database_url="sqlite:////tmp/city.db").server_processes() == 8
    assert Settings(database_url="sqlite:////tmp/city.db", workers=12).server_processes() == 12
