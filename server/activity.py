"""The requests a server process answers, counted for the background work that gives way to
users (the whole-city tile seeding runs more often only while none come)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

# a monitor's probe (a load balancer may ask every second) is not a user
NOT_COUNTED = ("/api/health",)


class RequestCount:
    """How many HTTP requests the process has been asked (NOT_COUNTED paths aside)."""

    def __init__(self) -> None:
        self.seen = 0
        self._checked = 0

    def quiet(self) -> bool:
        """Whether no request came since the last call (the first call: since start)."""
        quiet, self._checked = self.seen == self._checked, self.seen
        return quiet


class CountRequests:
    """ASGI middleware counting each HTTP request in a RequestCount."""

    def __init__(self, app: ASGIApp, count: RequestCount) -> None:
        self.app = app
        self.count = count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in NOT_COUNTED:
            self.count.seen += 1  # on the event loop's thread only: no lock needed
        await self.app(scope, receive, send)
