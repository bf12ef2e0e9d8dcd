"""POST /v1/chat: a question in, a checked answer with a citation on every sentence out."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from app.api.deps import ServicesDep
from app.api.schemas import ChatRequest, ChatResponse
from app.pipeline.context import AnswerContext

router = APIRouter()


@router.post("/v1/chat", response_model=ChatResponse, tags=["answers"])
async def chat(request: ChatRequest, services: ServicesDep) -> ChatResponse:
    """Answers from the indexed policy documents only, or refuses with a status and a canned reply.
    Streaming (SSE) and multi-turn sessions are not in this release."""
    ctx = AnswerContext(request.question, session_id=request.session_id, channel=request.channel,
                        filters=request.search_filters())
    ctx = await run_in_threadpool(services.pipeline.run, ctx)
    return ChatResponse.from_context(ctx)
