"""bench.bench_page --trace: where a traced pan's time went, thread by thread, event by event."""

from __future__ import annotations

import json
from pathlib import Path

from bench.bench_page import trace_summary


def _event(tid: int, name: str, ts: int, dur: int) -> dict[str, object]:
    return {"ph": "X", "pid": 1, "tid": tid, "name": name, "ts": ts, "dur": dur}


def test_a_trace_is_summed_per_thread_with_each_events_own_time(tmp_path: Path) -> None:
    """A nested event's time is its own, not its parent's too: the figures of each thread add
    up to its top-level events' time, per pan."""
    trace = tmp_path / "trace.json"
    trace.write_text(json.dumps({"traceEvents": [
        {"ph": "M", "pid": 1, "tid": 1, "name": "thread_name", "args": {"name": "main"}},
        {"ph": "M", "pid": 1, "tid": 2, "name": "thread_name", "args": {"name": "worker"}},
        _event(1, "RunTask", 0, 10_000),
        _event(1, "recalcStyle", 1_000, 3_000),  # inside RunTask
        _event(1, "Layout", 2_000, 1_000),  # inside recalcStyle
        _event(1, "Paint", 5_000, 1_000),  # inside RunTask, after recalcStyle
        _event(1, "RunTask", 20_000, 2_000),  # a second top-level task
        _event(2, "FinalizeFrame", 0, 5_000),
        {"ph": "B", "pid": 1, "tid": 1, "name": "ignored", "ts": 0},  # not a complete event
    ]}), encoding="utf-8")
    summary = trace_summary(trace, pans=2)
    assert [(thread, ms) for thread, ms, _ in summary] == [("main", 6.0), ("worker", 2.5)]
    main = dict(summary[0][2])
    assert main == {"RunTask": 4.0, "recalcStyle": 1.0, "Layout": 0.5, "Paint": 0.5}
    assert sum(main.values()) == summary[0][1]
    assert dict(summary[1][2]) == {"FinalizeFrame": 2.5}
