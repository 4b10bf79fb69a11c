"""Benchmark: the weekly bulletin (周通报) of a city, as `ccmap report` writes it.

    python -m bench.bench_bulletin --db URL [--db URL2] [--period 2026-W48] [--runs 2]
                                   [--format html|pdf] [--before DIR]

Times the real command `ccmap report --period P --out FILE` on each database (a fresh process
each run: start-up, the KPIs, indicators and ranking in SQL, the two maps, the lists, the page;
with `--format pdf` also Chromium's rendering of the page), wall and CPU seconds of the command
(its own process and what it starts, Chromium included) and the file's size. `--before DIR`
runs the same command from another checkout (e.g. `git worktree add DIR <commit>`) with this
venv and prints its figures beside. The command only reads the database.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_report(code: Path, db: str, period: str, fmt: str) -> tuple[float, float, int]:
    """One `ccmap report` with the code of checkout `code`: wall s, CPU s, bytes written."""
    with tempfile.TemporaryDirectory(prefix="bench_bulletin-") as tmp:
        out = Path(tmp) / f"bulletin.{fmt}"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "server.cli", "report", "--period", period, "--out", str(out),
             "--db", db], cwd=code, capture_output=True, text=True,
            env={**os.environ, "PYTHONPATH": str(code)})
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode:
            raise SystemExit(f"ccmap report failed ({code}): {done.stderr.strip()[-500:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu, out.stat().st_size


def main(argv: list[str] | None = None) -> int:
    """Print the bulletin's figures for each database (and the code of --before)."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--db", action="append", required=True, help="database URL (repeatable)")
    ap.add_argument("--period", default="2026-W48")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--format", choices=("html", "pdf"), default="html")
    ap.add_argument("--before", type=Path, help="another checkout, measured the same way")
    args = ap.parse_args(argv)
    codes = [("before", args.before.resolve())] if args.before else []
    codes.append(("this code", ROOT))
    print(f"ccmap report --period {args.period} (.{args.format}), {args.runs} runs, median")
    for db in args.db:
        print(f"\n{db.split('?')[0]}")
        for name, code in codes:
            runs = [run_report(code, db, args.period, args.format) for _ in range(args.runs)]
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            print(f"  {name:10s} wall {wall:6.2f} s (runs {', '.join(f'{r[0]:.2f}' for r in runs)})"
                  f"  CPU {cpu:6.2f} s  {runs[-1][2] / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
