"""`ccmap plan sample`: quotas per category, stratified by community, reproducible by seed."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point, box

from geo.model.errors import InvalidInput
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.planner.sampling import draw_sample, quotas
from geo.store import Store
from server.cli import main


def test_cli_sample_meets_quotas_and_is_reproducible(demo_store: Store,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    db_url = demo_store.url  # the shared demo city: sampling only reads it
    available = Counter(p.category for p in demo_store.features(Kind.test_point))
    assert main(["plan", "sample", "--seed", "7", "--db", db_url, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    for cat, n in quotas().items():
        assert first["by_category"].get(cat, 0) == min(n, available[cat])
    assert len({p["id"] for p in first["points"]}) == first["size"]
    assert main(["plan", "sample", "--seed", "7", "--db", db_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["points"] == first["points"]
    assert main(["plan", "sample", "--seed", "8", "--db", db_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["points"] != first["points"]


def test_stratification_and_risk_weighting(store: Store, client: TestClient) -> None:
    store.add_features([Feature(Kind.community, box(0, 0, 1, 1), name="甲"),
                        Feature(Kind.community, box(1, 0, 2, 1), name="乙")])
    store.add_features([Feature(Kind.test_point, Point(0.5 + (k % 2), 0.5 + k * 0.001),
                                name=f"点{k}", category="bus_stop") for k in range(20)])
    sample = draw_sample(store, seed=1, quota={"bus_stop": 4})
    assert Counter(p["community"] for p in sample["points"]) == {"甲": 2, "乙": 2}
    # a point with many recent issues nearby is drawn far more often with risk weighting
    hot = store.features(Kind.test_point)[0]
    store.add_issues([Issue("clutter", hot.geometry.x, hot.geometry.y,
                            reported_at=datetime.now()) for _ in range(30)])
    hits = sum(hot.id in {p["id"] for p in draw_sample(store, seed=s, quota={"bus_stop": 2},
                                                       risk=True)["points"]}
               for s in range(40))
    plain = sum(hot.id in {p["id"] for p in draw_sample(store, seed=s,
                                                        quota={"bus_stop": 2})["points"]}
                for s in range(40))
    assert hits > plain + 10
    doc = client.get("/api/plan/sample", params={"seed": 3}).json()
    assert doc["by_category"] == {"bus_stop": 2} and doc["shortfall"]["main_road"] == 3


def test_draw_sample_refuses_a_negative_seed(store: Store) -> None:
    with pytest.raises(InvalidInput, match="随机种子 seed 不能小于 0"):
        draw_sample(store, -1)
