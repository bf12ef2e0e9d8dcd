"""`jingce`: ingest, search, ask, route, stats, serve, eval, train, audit, keys. Settings come from the
environment / `.env`. One module per command group; this one puts them together."""

from __future__ import annotations

from app.cli import auditing, evaluating, ingesting, serving, training  # noqa: F401 - each registers its commands
from app.cli.common import app


def main() -> None:
    app()


