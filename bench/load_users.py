"""The simulated users of `bench.bench_load` (a locustfile: run by `locust`, not imported).

Configuration comes in the environment from bench.bench_load: CCMAP_LOAD_PLAN, a JSON file
with the bearer tokens (viewer, admin), the city's extent and, per simulated user, the ids of
the issues it alone moves along the lifecycle (so no two users edit one issue: a 409 would be
the benchmark's fault, not the server's).

Each user mixes, by weight: vector tiles at z12-16 somewhere in the city (issues, streets,
zones), issue list pages, the dashboard, a status change of one of its issues (the next legal
step reported → accepted → dispatched → handled → verified → closed, with the version read
just before) and a small CSV ledger import followed until its job ends.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

PLAN: dict[str, Any] = json.loads(Path(os.environ["CCMAP_LOAD_PLAN"]).read_text(encoding="utf-8"))
NEXT = {"reported": "accepted", "accepted": "dispatched", "dispatched": "handled",
        "handled": "verified", "verified": "closed"}
TILE_LAYERS = ("issues", "issues", "street", "zone")
IMPORT_ROWS = 20
JOB_TIMEOUT_S = 120.0
_numbers = itertools.count()


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The XYZ tile holding a point."""
    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    phi = math.radians(lat)
    y = int((1.0 - math.log(math.tan(phi) + 1.0 / math.cos(phi)) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


class CityUser(FastHttpUser):
    """One of the city's staff at the map, the ledger and the dashboard."""

    wait_time = between(PLAN["think_min"], PLAN["think_max"])

    def on_start(self) -> None:
        """Take this user's share of issues to move along."""
        number = next(_numbers)
        self.viewer = {"Authorization": f"Bearer {PLAN['viewer_token']}"}
        self.admin = {"Authorization": f"Bearer {PLAN['admin_token']}"}
        shares = PLAN["issue_shares"]
        self.issues: list[int] = list(shares[number % len(shares)]) if shares else []
        self.rng = random.Random(number)

    @task(10)
    def tile(self) -> None:
        """A vector tile somewhere in the city."""
        west, south, east, north = PLAN["extent"]
        z = self.rng.randint(12, 16)
        x, y = tile_xy(self.rng.uniform(west, east), self.rng.uniform(south, north), z)
        layer = self.rng.choice(TILE_LAYERS)
        with self.client.get(f"/api/tiles/{layer}/{z}/{x}/{y}.mvt", headers=self.viewer,
                             name=f"tile {layer}", catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"status {resp.status_code}")

    @task(4)
    def issue_list(self) -> None:
        """A page of the issue list, sometimes filtered by status."""
        page = self.rng.randint(1, 20)
        status = self.rng.choice(["", "", "&statuses=dispatched", "&statuses=reported"])
        self.client.get(f"/api/issues?page={page}&page_size=50{status}", headers=self.viewer,
                        name="issue list")

    @task(1)
    def dashboard(self) -> None:
        """The dashboard's figures."""
        self.client.get("/api/dashboard", headers=self.viewer, name="dashboard")

    @task(2)
    def update_issue(self) -> None:
        """The next legal status of one of this user's issues (read first for its version)."""
        while self.issues:
            issue_id = self.issues[0]
            with self.client.get(f"/api/issues/{issue_id}", headers=self.admin,
                                 name="issue read", catch_response=True) as resp:
                if resp.status_code != 200:
                    resp.failure(f"status {resp.status_code}")
                    return
                issue = resp.json()
            to = NEXT.get(issue["status"])
            if to is None:  # closed: take the next one
                self.issues.pop(0)
                continue
            self.client.post(f"/api/issues/{issue_id}/transitions", headers=self.admin,
                             json={"to": to, "version": issue["version"],
                                   "note": "load test"}, name="issue status change")
            return

    @task(1)
    def import_ledger(self) -> None:
        """A small CSV ledger import, followed until its job is done."""
        west, south, east, north = PLAN["extent"]
        lines = ["编号,问题类型,经度,纬度,上报时间,状态"]
        for _ in range(IMPORT_ROWS):
            lines.append(f"L{uuid.uuid4().hex[:12]},乱堆乱放,{self.rng.uniform(west, east):.6f},"
                         f"{self.rng.uniform(south, north):.6f},2026/11/20 08:30,上报")
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"ledger.csv\"\r\nContent-Type: text/csv\r\n\r\n"
                + "\n".join(lines) + f"\n\r\n--{boundary}--\r\n").encode("utf-8")
        # bytes are sent as they are (the hint says str; the docstring says str or bytes)
        with self.client.post("/api/issues/import", data=body,  # type: ignore[arg-type]
                              name="import submit",
                              headers={**self.admin, "Content-Type":
                                       f"multipart/form-data; boundary={boundary}"},
                              catch_response=True) as resp:
            if resp.status_code != 202:
                resp.failure(f"status {resp.status_code}: {resp.text[:200]}")
                return
            url = resp.json()["status_url"]
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while True:
            self.wait()  # a user looks again after a moment (the page polls alike)
            with self.client.get(url, headers=self.admin, name="import job poll",
                                 catch_response=True) as resp:
                if resp.status_code != 200:
                    resp.failure(f"status {resp.status_code}")
                    return
                job = resp.json()
                if job["state"] == "done":
                    if job["result"].get("imported") != IMPORT_ROWS:
                        resp.failure(f"imported {job['result'].get('imported')}")
                    return
                if job["state"] == "failed":
                    resp.failure(f"job failed: {job['message']}")
                    return
                if time.monotonic() > deadline:
                    resp.failure(f"job still {job['state']} after {JOB_TIMEOUT_S:g} s")
                    return
