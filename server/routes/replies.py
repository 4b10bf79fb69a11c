"""Reply templates (回复模板): admins keep them; the status-change form offers those of an
issue's category and status, filled in from the issue."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from geo.ledger import replies
from geo.model.kinds import issue_categories
from geo.model.lifecycle import statuses
from server.auth import Admin, Reader
from server.deps import Id, StoreDep
from server.paging import next_href
from server.params import PageDep
from server.routes.pages import templates
from server.schemas.triage import (
    ReplyTemplateFilled,
    ReplyTemplateForm,
    ReplyTemplatePage,
    ReplyTemplatePublic,
)

router = APIRouter(tags=["reply templates"])


def reply_choices() -> dict[str, dict[str, str]]:
    """The categories and statuses a template may be for, {code: label} (the admin page)."""
    return {"categories": {k: v["label"] for k, v in issue_categories().items()},
            "statuses": statuses()}


templates.env.globals["reply_choices"] = reply_choices


@router.get("/api/reply-templates", response_model=ReplyTemplatePage)
def list_templates(request: Request, user: Admin, store: StoreDep,
                   page: PageDep) -> dict[str, Any]:
    """Every reply template, the most specific first, a page at a time (admins)."""
    rows = store.reply_templates(limit=page.limit, offset=page.offset)
    matched = store.reply_template_count()
    return {"numberMatched": matched, "numberReturned": len(rows),
            "next": next_href(request, page, matched) if rows else None, "items": rows}


@router.post("/api/reply-templates", status_code=201, response_model=ReplyTemplatePublic)
def create_template(body: ReplyTemplateForm, user: Admin, store: StoreDep) -> dict[str, Any]:
    """Add a reply template (422 for an unknown category, status or placeholder)."""
    return replies.save_template(store, body.model_dump(), user)


@router.put("/api/reply-templates/{template_id}", response_model=ReplyTemplatePublic)
def update_template(template_id: Id, body: ReplyTemplateForm, user: Admin,
                    store: StoreDep) -> dict[str, Any]:
    """Replace a reply template."""
    return replies.save_template(store, body.model_dump(), user, template_id)


@router.delete("/api/reply-templates/{template_id}", response_model=ReplyTemplatePublic)
def delete_template(template_id: Id, user: Admin, store: StoreDep) -> dict[str, Any]:
    """Delete a reply template; the template as it was."""
    return replies.delete_template(store, template_id, user)


@router.get("/api/issues/{issue_id}/reply-templates", response_model=list[ReplyTemplateFilled])
def issue_templates(issue_id: Id, user: Reader, store: StoreDep,
                    next_status: Annotated[str | None, Query(
                        description="the status the note goes with (default: the issue's)")]
                    = None) -> list[dict[str, Any]]:
    """The reply templates for an issue's category and a status, the most specific first, each
    with its text filled in from the issue (`filled`)."""
    return replies.templates_for(store, issue_id, user, next_status)
