"""FastAPI dependencies as Annotated aliases."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from pydantic import AfterValidator, Field

from geo.model.errors import InvalidInput
from geo.model.timestamps import to_local
from geo.store import MAX_ID as MAX_ID  # the largest id the databases store (routes use it)
from geo.store import Store
from server.settings import Settings


async def get_store(request: Request) -> Store:
    """The app's store."""
    store: Store = request.app.state.store
    return store


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _local(value: datetime) -> datetime:
    try:
        return to_local(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


# an id in a path (/api/issues/{issue_id}): larger than the databases store gives 422, not 500
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
# an optional id filter in a query (?zone=, ?round=)
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
# an id or version in a body or query
DbInt = Annotated[int, Field(ge=0, le=MAX_ID)]
# a timestamp from a body or query: offsets converted to local time, years 1900..2200 (422)
LocalDateTime = Annotated[datetime, AfterValidator(_local)]
