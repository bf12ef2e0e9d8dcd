"""HTTP API: `create_app` is the public entry point."""

from app.api.main import create_app

__all__ = ["create_app"]
