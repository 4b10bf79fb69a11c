"""Request and response bodies of the triage queue (受理), claims (认领) and reply templates
(回复模板)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from geo.ledger.replies import MAX_TEXT, MAX_TITLE, checked
from geo.model.errors import InvalidInput
from geo.model.kinds import check_category
from server.deps import DbInt
from server.schemas.common import FeatureCollection, GeoJSONFeature, LocalTimeText
from server.schemas.issues import IssuePublic


def _category(value: str) -> str:
    try:
        return check_category(value)
    except InvalidInput as exc:  # a 422 naming the categories
        raise ValueError(exc.message) from None


# an issue category code: an unknown one is a 422 naming the categories
Category = Annotated[str, AfterValidator(_category), Field(description="an issue category code")]


class TriageAccept(BaseModel):
    """Body of POST /api/triage/{id}/accept (立案): the version you read, an urgency and a new
    category if the report was filed under the wrong one."""

    version: DbInt
    urgency: Literal["normal", "urgent"] | None = Field(
        None, description="normal (一般) or urgent (紧急); default: as reported")
    category: Category | None = None
    note: str = Field("", max_length=2000)


class TriageReject(BaseModel):
    """Body of POST /api/triage/{id}/reject (不予立案): the reason is required."""

    version: DbInt
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S",
                        description="why the report is not a case (kept in its history)")


class TriageDuplicate(BaseModel):
    """Body of POST /api/triage/{id}/duplicate: the report repeats the open case `into`."""

    version: DbInt
    into: DbInt
    note: str = Field("", max_length=2000)


class TriageCategory(BaseModel):
    """Body of POST /api/triage/{id}/category (改类别)."""

    version: DbInt
    category: Category
    note: str = Field("", max_length=2000)


class TriageItem(IssuePublic):
    """A report waiting for triage (an issue as the API returns it)."""


class TriagePage(BaseModel):
    """One page of the triage queue, oldest report first: numberMatched counts every waiting
    report of the filters; `next` is the URL of the following page (null on the last)."""

    numberMatched: int
    numberReturned: int
    next: str | None = None
    items: list[TriageItem]


class TriageNearby(FeatureCollection):
    """The open issues near a report, nearest first (GeoJSON points with `distance_m` and
    `same_category` among their properties), and the report itself as `center`."""

    center: GeoJSONFeature
    radius_m: float


class ClaimPublic(BaseModel):
    """Who holds an issue (认领) and until when; both null when nobody does."""

    issue_id: int
    claimed_by: str | None
    claimed_until: LocalTimeText | None
    version: int


class ReplyTemplateForm(BaseModel):
    """Body of POST/PUT /api/reply-templates: a category and a status (null: any), a title and
    a text whose placeholders ({id}, {category}, {address}, {deadline}, {status}, {unit},
    {reported_at}, {description}) are filled from the issue."""

    category: str | None = Field(None, description="an issue category code; null: any")
    status: str | None = Field(None, description="the status the note goes with; null: any")
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    text: str = Field(min_length=1, max_length=MAX_TEXT)

    @model_validator(mode="after")
    def _check(self) -> ReplyTemplateForm:
        try:
            checked(self.model_dump())
        except InvalidInput as exc:  # a 422 naming the field's problem
            raise ValueError(exc.message) from None
        return self


class ReplyTemplatePublic(BaseModel):
    """A stored reply template."""

    id: int
    category: str | None
    status: str | None
    title: str
    text: str
    created_by: str
    created_at: LocalTimeText


class ReplyTemplateFilled(ReplyTemplatePublic):
    """A reply template with its text filled in from one issue (`filled`)."""

    filled: str


class ReplyTemplatePage(BaseModel):
    """One page of the reply templates (numberMatched: all of them)."""

    numberMatched: int
    numberReturned: int
    next: str | None = None
    items: list[ReplyTemplatePublic]
