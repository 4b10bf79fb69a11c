"""Jobs: heavy work (imports, uploads) run in a bounded pool of threads, state in the store.

A job is created `queued`, becomes `running` when a worker thread takes it, and ends `done`
(with the work's report as `result`) or `failed` (with the error message and, for a rejected
file, every row problem). Progress (`done`/`total` rows or features) is written at most every
PROGRESS_INTERVAL seconds. State lives in the database so any server process can answer
GET /api/jobs/{id}. Each job records the process running it (`worker`, host:pid) and a
heartbeat (`heartbeat_at`: every write, and every HEARTBEAT_INTERVAL from the pool); a
queued/running job whose heartbeat is too old lost its process and `fail_stale` marks it
failed. Nothing here knows about HTTP.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from geo.model.errors import CcmapError, InvalidInput
from geo.store import JobStore

log = logging.getLogger("ccmap.jobs")
T = TypeVar("T")
PROGRESS_INTERVAL = 0.5  # seconds between two progress writes
HEARTBEAT_INTERVAL = 30.0  # seconds: a pool marks its queued and running jobs alive this often
STALE_MESSAGE = "处理进程已中断，请重新上传文件"
# while jobs run, the youngest generation is collected every 50,000 net allocations instead of
# 700: an import allocates millions of objects, and each collection of the older generations
# walks what survived. Cycles are still collected (the collector stays enabled).
JOB_GC_THRESHOLD = (50_000, 50, 1000)
_GC_LOCK = threading.Lock()
_gc_jobs = 0
_gc_saved: tuple[int, int, int] | None = None


def worker_id() -> str:
    """This process, as recorded on the jobs it runs: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def fail_stale(store: JobStore, stale_after: timedelta, job_id: int | None = None,
               now: datetime | None = None) -> list[int]:
    """Mark failed the queued/running jobs (or job job_id) whose process stopped beating for
    longer than stale_after (killed, crashed); return their ids."""
    before = (now or datetime.now()) - stale_after
    ids = store.fail_stale_jobs(before, STALE_MESSAGE,
                                {"error": "WorkerLost", "detail": STALE_MESSAGE}, job_id=job_id)
    for i in ids:
        log.warning("job %s: no heartbeat since before %s; marked failed", i, before)
    return ids


class Progress(Protocol):
    """Called by a job's work with rows/features done so far and the total when known."""

    def __call__(self, done: int, total: int | None = None) -> None: ...


Work = Callable[[Progress], dict[str, Any]]


class _Throttled:
    """A Progress that writes to the store at most once per interval (the last call wins)."""

    def __init__(self, store: JobStore, job_id: int, interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.job_id, self.interval, self.clock = store, job_id, interval, clock
        self.last = float("-inf")
        self.done = 0
        self.total: int | None = None

    def __call__(self, done: int, total: int | None = None) -> None:
        self.done = done
        self.total = total if total is not None else self.total
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            changes: dict[str, Any] = {"done": done}
            if self.total is not None:
                changes["total"] = self.total
            self.store.update_job(self.job_id, **changes)


def error_result(exc: CcmapError) -> dict[str, Any]:
    """The `result` of a failed job: the message, the error's kind and its details (rows)."""
    return {"error": type(exc).__name__, "detail": exc.message, **exc.detail}


def run_job(store: JobStore, job_id: int, work: Work,
            interval: float = PROGRESS_INTERVAL) -> None:
    """Run work for a queued job, recording running → done (its report) or failed (why)."""
    store.update_job(job_id, state="running", started_at=datetime.now())
    progress = _Throttled(store, job_id, interval)
    try:
        result = work(progress)
    except CcmapError as exc:  # the user's problem: say what and, for a file, which rows
        _finish(store, job_id, "failed", exc.message, error_result(exc), progress)
    except Exception:
        log.exception("job %s failed", job_id)
        message = f"internal error in job {job_id}; the server log has the details"
        _finish(store, job_id, "failed", message, {"error": "InternalError",
                                                   "detail": message}, progress)
    else:
        total = progress.total if progress.total is not None else progress.done
        _finish(store, job_id, "done", "", result, progress, done=max(progress.done, total))


def _finish(store: JobStore, job_id: int, state: str, message: str, result: dict[str, Any],
            progress: _Throttled, done: int | None = None) -> None:
    changes: dict[str, Any] = {"state": state, "message": message, "result": result,
                               "finished_at": datetime.now(),
                               "done": progress.done if done is None else done}
    if progress.total is not None:
        changes["total"] = progress.total
    try:
        store.update_job(job_id, **changes)
    except Exception:  # e.g. a report the database cannot hold: keep the outcome at least
        log.exception("job %s: storing its %s result failed", job_id, state)
        store.update_job(job_id, state=state, finished_at=changes["finished_at"],
                         message=message or "the job's report could not be stored",
                         result={"error": "ResultNotStored", "detail": message})


class JobPool:
    """One bounded pool of worker threads per process for jobs and other heavy work."""

    def __init__(self, store: JobStore, workers: int) -> None:
        if workers < 1:
            raise InvalidInput("worker_threads 至少为 1（CCMAP_WORKER_THREADS）")
        self.store = store
        self.workers = workers
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="ccmap-worker")
        self._queued: dict[int, tuple[Future[None], Callable[[], None] | None]] = {}
        self._lock = threading.Lock()
        self.heartbeat_interval = HEARTBEAT_INTERVAL
        self._stopped = threading.Event()
        self._beater: threading.Thread | None = None

    def submit_job(self, kind: str, actor: str, work: Work, unit: str | None = None,
                   cleanup: Callable[[], None] | None = None) -> int:
        """Record a queued job and run work in the pool; return the job id.

        cleanup (e.g. removing the uploaded file) runs after the work, whatever happened, and
        before the job is recorded done or failed: a client that sees the outcome finds the file
        gone. It runs once.
        """
        try:
            job_id = self.store.add_job(kind, actor, unit, worker=worker_id())
        except BaseException:
            if cleanup:
                cleanup()
            raise

        cleaned = threading.Event()

        def clean() -> None:
            if cleanup and not cleaned.is_set():
                cleaned.set()
                cleanup()

        def work_then_cleanup(progress: Progress) -> dict[str, Any]:
            try:
                return work(progress)
            finally:
                clean()

        def task() -> None:
            self._gc_pause(+1)
            try:
                run_job(self.store, job_id, work_then_cleanup)
            finally:
                with self._lock:
                    self._queued.pop(job_id, None)
                self._gc_pause(-1)
                clean()  # if the work never ran (recording it running failed)

        with self._lock:
            self._queued[job_id] = (self.executor.submit(task), cleanup)
            self._start_heartbeat()
        return job_id

    def _start_heartbeat(self) -> None:
        # one daemon thread per pool, started with the first job (called holding self._lock)
        if self._beater is None and not self._stopped.is_set():
            self._beater = threading.Thread(target=self._beat, name="ccmap-job-heartbeat",
                                            daemon=True)
            self._beater.start()

    def _beat(self) -> None:
        """Every heartbeat_interval, mark this pool's queued and running jobs alive (a job
        without progress for a while is not taken for one whose process died)."""
        while not self._stopped.wait(self.heartbeat_interval):
            with self._lock:
                ids = list(self._queued)
            try:
                self.store.heartbeat_jobs(ids)
            except Exception:  # the database away for a moment: try again next time
                log.exception("job heartbeat failed")

    def _gc_pause(self, step: int) -> None:
        """While jobs run, the cyclic collector runs less often (JOB_GC_THRESHOLD); the old
        thresholds come back when the last job ends.

        An import builds millions of objects; at the default thresholds the collector keeps
        re-walking them holding the GIL, which stalls every request of the process. It stays
        enabled, so cycles (of the job or of other requests) are still freed meanwhile.
        """
        global _gc_jobs, _gc_saved
        with _GC_LOCK:  # the collector is per process, so is the count (all pools)
            _gc_jobs += step
            if _gc_jobs == 1 and step > 0:
                _gc_saved = gc.get_threshold()
                gc.set_threshold(*JOB_GC_THRESHOLD)
            elif _gc_jobs == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)
                _gc_saved = None

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run fn(*args) in the pool (for heavy work a request waits for)."""
        return self.executor.submit(fn, *args)

    def shutdown(self) -> None:
        """Stop taking work: jobs still queued are marked failed, running ones finish."""
        self._stopped.set()
        with self._lock:
            waiting = [(j, c) for j, (f, c) in self._queued.items() if f.cancel()]
        for job_id, cleanup in waiting:
            if cleanup:
                cleanup()
            try:
                self.store.update_job(job_id, state="failed", finished_at=datetime.now(),
                                      message="the server stopped before the job ran; "
                                              "send the file again",
                                      result={"error": "Cancelled"})
            except Exception:
                log.exception("job %s: could not mark it cancelled", job_id)
        self.executor.shutdown(wait=True)
