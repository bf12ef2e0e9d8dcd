"""The pages people use, served by the app from `app/web/static/` as written there — no build step,
no CDN, no external fonts (government intranets are often offline):

- `/widget.js` — the citizen chat widget any site adds with one script tag, and `/demo`, a page
  that looks like a government site's with the widget on it;
- `/panel` — the 12345 agent-assist panel (its API calls need an agent key);
- `/audit` — the audit review page (its API calls need an auditor key);
- `/docs` (AUTH_PUBLIC_DOCS) — the API reference in Swagger UI, vendored under `static/vendor/`
  (version and checksums in its README). ReDoc is not offered: its bundle always loads its logo
  from cdn.redoc.ly.

The pages are public: what they show comes from API calls, which check the key the page was given.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Path as PathParam
from fastapi.responses import FileResponse
from typing import Annotated

from app.api.problems import ProblemError

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
PAGES = {"/demo": "demo.html", "/panel": "panel.html", "/audit": "audit.html"}
DOCS_PAGES = {"/docs": "docs.html"}
# every script and style sheet a page loads, by file name (names are unique across the folder, so a
# name never reaches outside it)
ASSETS = {path.name: path for path in sorted(STATIC.rglob("*"))
          if path.is_file() and path.suffix in (".js", ".css") and path.name != "widget.js"}
# a page is checked for a newer version on every load; its scripts are cached a few minutes
_PAGE_CACHE = {"Cache-Control": "no-cache"}
_ASSET_CACHE = {"Cache-Control": "public, max-age=300"}


def pages_router(docs: bool) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    served = {**PAGES, **(DOCS_PAGES if docs else {})}
    for path, name in served.items():
        router.add_api_route(path, _page(name), methods=["GET"], name=name.removesuffix(".html"))

    @router.get("/widget.js")
    async def widget() -> FileResponse:
        return FileResponse(STATIC / "widget.js", media_type="text/javascript; charset=utf-8", headers=_ASSET_CACHE)

    @router.get("/assets/{name}")
    async def asset(name: Annotated[str, PathParam(max_length=80)]) -> FileResponse:
        found = ASSETS.get(name)
        if found is None:
            raise ProblemError(404, f"no asset {name!r}", field="name", location="path")
        kind = "text/css" if found.suffix == ".css" else "text/javascript"
        return FileResponse(found, media_type=f"{kind}; charset=utf-8", headers=_ASSET_CACHE)

    return router


def _page(name: str):
    async def page() -> FileResponse:
        return FileResponse(STATIC / name, media_type="text/html; charset=utf-8", headers=_PAGE_CACHE)
    return page
