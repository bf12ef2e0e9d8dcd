"""Dependencies handed to routes. Routes never build a client; tests override these."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.composition import Services


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]
