"""Conditional GET: an ETag over the response body and a Last-Modified from the documents in it,
so that a calling system can revalidate instead of downloading again (304 Not Modified)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from email.utils import format_datetime, parsedate_to_datetime

from fastapi import Request, Response
from pydantic import BaseModel


def last_modified(indexed_at: list[str | None]) -> dt.datetime | None:
    stamps = [dt.datetime.fromisoformat(s) for s in indexed_at if s]
    return max(stamps) if stamps else None


def cached_json(request: Request, model: BaseModel, modified: dt.datetime | None) -> Response:
    body = json.dumps(model.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}  # store, but revalidate: the index can change
    if modified is not None:
        modified = modified.replace(microsecond=0)
        headers["Last-Modified"] = format_datetime(modified.astimezone(dt.timezone.utc), usegmt=True)
    if _not_modified(request, etag, modified):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _not_modified(request: Request, etag: str, modified: dt.datetime | None) -> bool:
    match = request.headers.get("if-none-match")
    if match is not None:  # RFC 9110: If-None-Match wins over If-Modified-Since
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since and modified is not None:
        try:
            return modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False
