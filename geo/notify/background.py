"""The background loops of a server process: a daemon thread (off the event loop) running
tasks every so often. The notifications' loop sends the due deliveries every few seconds and
scans the deadlines every few minutes (several processes may each run one: sending and scanning
are safe side by side); the tiles' loop reseeds what writes changed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("ccmap.notify")


@dataclass(frozen=True)
class Task:
    """Work the loop runs every `every` seconds (the first time at its first tick), and at
    every tick while `behind()` says work is left over."""

    name: str
    every: float
    run: Callable[[], Any]
    behind: Callable[[], bool] | None = None

    def due(self, since_last: float) -> bool:
        """Whether the task runs at a tick `since_last` seconds after its last start."""
        return since_last >= self.every or (self.behind is not None and self.behind())


class BackgroundLoop:
    """Runs tasks in one daemon thread, waking every `tick` seconds; a task that raises is
    logged and runs again at its next time."""

    def __init__(self, tasks: Sequence[Task], tick: float, name: str = "ccmap-notify") -> None:
        self.name = name
        self.tasks = list(tasks)
        self.tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last = {t.name: float("-inf") for t in self.tasks}

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the work in progress (waiting at most timeout seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_due(self) -> None:
        """Run every task whose time has come."""
        for task in self.tasks:
            if self._stop.is_set():
                return
            if task.due(time.monotonic() - self._last[task.name]):
                self._last[task.name] = time.monotonic()
                try:
                    task.run()
                except Exception:  # the database away for a moment: try again next time
                    log.exception("%s: %s failed", self.name, task.name)

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            self.run_due()
