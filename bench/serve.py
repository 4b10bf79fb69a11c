"""Serving a database for the benchmarks: `ccmap serve` as a child process on a free local
port, users made with the `ccmap` CLI, and plain HTTP calls to that local server.

Used by `bench.city --serve-check`, `bench.bench_page`, `bench.bench_tiles` and `bench.bench_load`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def add_user(db_url: str, role: str = "admin", prefix: str = "bench",
             unit: str | None = None) -> tuple[str, str]:
    """Create a user of `role` (of `unit`, for a unit user) with a random password through
    `ccmap user add`; returns (username, password)."""
    username = f"{prefix}{role}{os.getpid()}{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(18)
    cli = [sys.executable, "-m", "server.cli"]
    if unit:  # made if the database has no such unit yet (an existing one is refused: kept)
        subprocess.run([*cli, "unit", "add", unit, "--db", db_url], capture_output=True)
    done = subprocess.run([*cli, "user", "add", username, "--role", role, "--password-stdin",
                           "--db", db_url, *(["--unit", unit] if unit else [])],
                          input=password + "\n", text=True, capture_output=True)
    if done.returncode:
        raise RuntimeError(f"ccmap user add failed: {done.stderr.strip()}")
    return username, password


def http(url: str, token: str | None = None, data: bytes | None = None,
         timeout: float = 600) -> tuple[int, bytes]:
    """One request to our own local server: status and body."""
    req = urllib.request.Request(url, data=data)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def token(base: str, username: str, password: str) -> str:
    """A bearer token for a user, through the OAuth2 password flow."""
    form = urllib.parse.urlencode({"username": username, "password": password}).encode()
    status, body = http(base + "/api/auth/token", data=form)
    if status != 200:
        raise RuntimeError(f"login failed: {status} {body[:200]!r}")
    access: str = json.loads(body)["access_token"]
    return access


def started_workers(log: Path) -> int:
    """How many server processes the log of `ccmap serve` says have started."""
    return log.read_text(errors="replace").count("Application startup complete")


def serving_workers(log: Path) -> int | None:
    """How many server processes the log of `ccmap serve` says it runs (None: not said yet)."""
    text = log.read_text(errors="replace")
    said = re.search(r"ccmap: serving .*? with (\d+) worker processes", text)
    if said:
        return int(said.group(1))
    return 1 if "ccmap: serving " in text else None


@dataclass(frozen=True)
class Served:
    """A running `ccmap serve`: its base URL and how long it took to answer /api/health."""

    base: str
    startup_s: float
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def served(db_url: str, log: Path, timeout: float = 600,
           env: dict[str, str] | None = None, cwd: Path | None = None,
           workers: int | None = None) -> Iterator[Served]:
    """Run `ccmap serve --db db_url [--workers N]` (without N: the server's default, one
    process per core) on a free 127.0.0.1 port (output to `log`, extra environment `env`, e.g.
    CCMAP_BASEMAP, from folder `cwd`) until /api/health answers and the log shows every
    worker started; stopped on exit."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        t0 = time.perf_counter()
        server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--db", db_url,
                                   "--host", "127.0.0.1", "--port", str(port),
                                   *(["--workers", str(workers)] if workers else [])],
                                  stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True,
                                  env={**os.environ, **(env or {})}, cwd=cwd)
        try:
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"ccmap serve exited: see {log}")
                if time.perf_counter() - t0 > timeout:
                    raise RuntimeError(f"ccmap serve did not answer in {timeout:g} s: see {log}")
                with contextlib.suppress(OSError):
                    expected = workers or serving_workers(log)
                    if (http(base + "/api/health", timeout=5)[0] == 200
                            and expected is not None and started_workers(log) >= expected):
                        break
                time.sleep(0.5)
            yield Served(base, round(time.perf_counter() - t0, 2), server)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
