"""The requests a server process counts: the background city seeding runs more often only
while none come (geo.maps.seeding.Reseeder.behind), and a monitor's health probes are not
users."""

from __future__ import annotations

from fastapi.testclient import TestClient

from server.activity import RequestCount


def test_a_users_request_ends_the_quiet_and_a_health_probe_does_not(
        client: TestClient) -> None:
    count: RequestCount = client.app.state.requests  # type: ignore[attr-defined]
    count.quiet()  # from now on
    for _ in range(3):
        assert client.get("/api/health").status_code == 200
    assert count.quiet()
    assert client.get("/api/layers/zone").status_code == 200
    assert not count.quiet()  # someone asked since the last look
    assert count.quiet()  # and nobody since
    assert client.get("/login").status_code == 200  # pages count too, not only the API
    assert client.get("/no/such/page").status_code == 404  # and what they get wrong
    assert not count.quiet()
