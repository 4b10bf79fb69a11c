"""Paged answers: OGC API Features collections, next/prev links, Link headers (the limit/offset
parameters are in server.params).

No list or GeoJSON answer is cut short silently: a page says how many rows match
(numberMatched / total) and links to the next page while more remain; a limit over
CCMAP_MAX_PAGE is refused (422) rather than reduced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel, Field

from geo.layers.geojson import MEDIA_TYPE, FeatureDoc, parse_coords
from server.downloads import download_responses
from server.params import CoordsQuery, Page, PageDep
from server.schemas.common import FeatureCollection


class Link(BaseModel):
    """A link of a paged answer (rel self, next or prev)."""

    href: str
    rel: str
    type: str
    title: str | None = None


class FeatureCollectionPage(FeatureCollection):
    """One page of a GeoJSON FeatureCollection, as OGC API Features pages them: follow the
    `next` link until there is none; numberMatched counts every feature of the filters."""

    numberMatched: int = Field(description="features matching the filters, on every page")
    numberReturned: int = Field(description="features in this answer")
    links: list[Link]


def page_links(request: Request, page: Page, matched: int,
               media_type: str = MEDIA_TYPE, numbered: bool = False) -> list[Link]:
    """self, and next/prev links (the same query with another offset; with `numbered`,
    another page=N of page_size rows) of one page."""
    def href(offset: int) -> str:
        if numbered:
            return str(request.url.include_query_params(page=offset // page.limit + 1,
                                                        page_size=page.limit))
        return str(request.url.include_query_params(offset=offset, limit=page.limit))

    links = [Link(href=href(page.offset), rel="self", type=media_type, title="this page")]
    if page.offset + page.limit < matched:
        links.append(Link(href=href(page.offset + page.limit), rel="next", type=media_type,
                          title="next page"))
    if page.offset > 0:
        links.append(Link(href=href(max(0, page.offset - page.limit)), rel="prev",
                          type=media_type, title="previous page"))
    return links


def next_href(request: Request, page: Page, matched: int) -> str | None:
    """The URL of the page after this one (limit/offset), None on the last."""
    return next((link.href for link in page_links(request, page, matched)
                 if link.rel == "next"), None)


def collection_page(request: Request, page: Page, features: Iterable[FeatureDoc],
                    matched: int, **extra: Any) -> dict[str, Any]:
    """A FeatureCollection page: the features with numberMatched, numberReturned and links."""
    feats = list(features)
    return {"type": "FeatureCollection", **extra, "features": feats, "numberMatched": matched,
            "numberReturned": len(feats),
            "links": [link.model_dump(exclude_none=True)
                      for link in page_links(request, page, matched)]}


def page_of(request: Request, page: Page, features: list[dict[str, Any]],
            **extra: Any) -> dict[str, Any]:
    """A page of features computed in memory (analysis results), with the same links."""
    return collection_page(request, page, features[page.offset:page.offset + page.limit],
                           len(features), **extra)


@dataclass
class Collection:
    """What a paged GeoJSON route was asked for: the page, the coordinate system of the
    answer, and the request (its URL makes the next/prev links)."""

    request: Request
    page: Page
    coords: str

    def of(self, features: Iterable[FeatureDoc], matched: int,
           **extra: Any) -> dict[str, Any]:
        """collection_page of this request: features of the page, numberMatched = matched."""
        return collection_page(self.request, self.page, features, matched, **extra)

    def cut(self, features: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        """page_of of this request: this page of features computed in memory."""
        return page_of(self.request, self.page, features, **extra)


async def collection_params(request: Request, page: PageDep,
                            coords: CoordsQuery = None) -> Collection:
    """The page and output coordinates of a GeoJSON FeatureCollection route."""
    return Collection(request, page, parse_coords(coords))


CollectionDep = Annotated[Collection, Depends(collection_params)]


def link_headers(request: Request, page: Page, matched: int,
                 numbered: bool = False) -> dict[str, str]:
    """RFC 8288 Link (next/prev) and X-Total-Count headers of a JSON list answer whose body
    keeps its format (a plain array); `numbered` as in page_links."""
    links = [f'<{link.href}>; rel="{link.rel}"'
             for link in page_links(request, page, matched, "application/json", numbered)
             if link.rel != "self"]
    headers = {"X-Total-Count": str(matched)}
    if links:
        headers["Link"] = ", ".join(links)
    return headers


PAGE_HEADERS = {
    "X-Total-Count": {"description": "rows matching the filters, on every page",
                      "schema": {"type": "integer"}},
    "Link": {"description": 'RFC 8288 links to the rel="next" and rel="prev" pages',
             "schema": {"type": "string"}},
}


def paged_download_responses(*formats: str, model: Any = None) -> dict[int | str, dict[str, Any]]:
    """download_responses of a list whose JSON answer pages with PAGE_HEADERS."""
    responses = download_responses(*formats, model=model)
    responses[200]["headers"] = PAGE_HEADERS
    return responses


def json_page(request: Request, page: Page, items: list[dict[str, Any]],
              matched: int) -> dict[str, Any]:
    """A page of a JSON list as the list routes answer it: items, numberMatched (every match),
    numberReturned and the URL of the next page (null on the last)."""
    nxt = next((link.href for link in page_links(request, page, matched, "application/json")
                if link.rel == "next"), None)
    return {"items": items, "numberMatched": matched, "numberReturned": len(items),
            "next": nxt if items else None}
