"""GET /v1/me: who the caller is to this service — the role and name of the key it presented (or an
anonymous citizen). The pages ask it when someone signs in, to say at once that a key is of the wrong
role instead of failing on the first real call."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

router = APIRouter(tags=["access"])


class Me(BaseModel):
    role: str = Field(description="citizen | agent | auditor | admin")
    key_id: str | None = Field(None, description="null for an anonymous citizen")
    name: str | None = None
    origins: list[str] = Field([], description="The pages a widget key may be used from.")


@router.get("/v1/me", response_model=Me, summary="The role and name of the calling key")
async def me(request: Request) -> Me:
    caller = request.state.caller
    key = caller.key
    return Me(role=caller.role, key_id=key.id if key else None, name=key.name if key else None,
              origins=list(key.origins) if key else [])
