"""The server's background loops: a task runs at its pace, and at every tick while behind."""

from __future__ import annotations

from geo.notify.background import BackgroundLoop, Task


def test_a_task_with_work_left_runs_at_every_tick_then_at_its_own_pace() -> None:
    runs: list[int] = []
    left = [3]  # passes of queued work (a reseeder's opening views, an import's tiles)

    def run() -> None:
        runs.append(1)
        left[0] = max(left[0] - 1, 0)

    loop = BackgroundLoop([Task("reseed", 3600.0, run, behind=lambda: left[0] > 0)], tick=0.01)
    for _ in range(6):
        loop.run_due()
    # the first tick (never run), then twice more while work was left; then its hour
    assert len(runs) == 3 and left[0] == 0


def test_a_task_without_a_backlog_waits_its_interval() -> None:
    runs: list[int] = []
    loop = BackgroundLoop([Task("scan", 3600.0, lambda: runs.append(1)),
                           Task("send", 0.0, lambda: runs.append(2))], tick=0.01)
    for _ in range(3):
        loop.run_due()
    assert runs.count(1) == 1 and runs.count(2) == 3
