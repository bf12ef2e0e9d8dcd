"""POST /v1/chat: a question in, a checked answer with a citation on every sentence out — as one
JSON response, or streamed as server-sent events (`stream: true` or `Accept: text/event-stream`):
`sources`, then `delta` per checked sentence, then `done` with the final answer; `error` with a
code and message on failure."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
import time

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sse_starlette.sse import EventSourceResponse

from app.api.access import Caller
from app.api.deps import ServicesDep
from app.api.operations import FIRST_ANSWER_SECONDS, count_answer
from app.api.problems import STORE_DOWN, problem_responses
from app.api.schemas import ChatRequest, ChatResponse
from app.audit.store import AuditEvent
from app.clients.vector_store import StoreUnavailable
from app.composition import Services
from app.pipeline.context import AnswerContext
from app.pipeline.outcome import answer_outcome

router = APIRouter()
log = logging.getLogger(__name__)


def _history_key(session_id: str, caller: Caller) -> str:
    """Where a session's history is kept: under its caller too, so that a session id another caller
    reuses starts an empty history of its own instead of reading the first caller's questions."""
    owner = hashlib.sha256(f"{caller.key.id if caller.key else 'anon'}|{caller.address}".encode()).hexdigest()[:16]
    return f"{owner}:{session_id}"


def _context(request: ChatRequest, services: Services, caller: Caller) -> AnswerContext:
    history = services.sessions.history(_history_key(request.session_id, caller)) if request.session_id else []
    return AnswerContext(request.question, session_id=request.session_id, channel=request.channel,
                         filters=request.search_filters(), history=history, actor=caller.actor)


def _remember(ctx: AnswerContext, services: Services, caller: Caller) -> None:
    if ctx.session_id and ctx.question:
        services.sessions.append(_history_key(ctx.session_id, caller),
                                 {"question": ctx.search_question, "status": ctx.status or ""})


def run_answer(ctx: AnswerContext, services: Services, caller: Caller) -> AnswerContext:
    services.pipeline.run(ctx)
    _remember(ctx, services, caller)
    count_answer(ctx.status or "error", ctx.composer, ctx.degraded, ctx.timings_ms)
    return ctx


@router.post("/v1/chat", response_model=ChatResponse, tags=["answers"],
             responses={200: {"content": {"text/event-stream": {"example": (
                 'event: sources\ndata: {"sources": [...]}\n\nevent: delta\ndata: {"text": "…[1]"}\n\n'
                 'event: done\ndata: {"status": "answered", ...}\n\n')}}}, **problem_responses(400, 422, 503)})
async def chat(body: ChatRequest, request: Request, services: ServicesDep):
    """Answers from the indexed policy documents only, or refuses with a status and a canned reply.
    With a `session_id`, a follow-up is read in the light of the session's earlier questions — those
    the same caller (key, address) asked in it."""
    caller: Caller = request.state.caller
    ctx = _context(body, services, caller)
    request.state.audited = True  # the answer pipeline's record step always records, also on failure
    if body.stream or "text/event-stream" in request.headers.get("accept", ""):
        return EventSourceResponse(answer_events(ctx, services, caller), ping=15)
    ctx = await run_in_threadpool(run_answer, ctx, services, caller)
    if ctx.retryable:  # recorded as an error; answered as the store's outage is everywhere (problems.py)
        raise StoreUnavailable(ctx.error or "the store cannot be reached")
    return ChatResponse.of(answer_outcome(ctx))


async def answer_events(ctx: AnswerContext, services: Services, caller: Caller):
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    ctx.listener = lambda event, data: loop.call_soon_threadsafe(queue.put_nowait, (event, data))
    started, first = time.perf_counter(), True
    # the request's context (its request id) goes with the pipeline into the executor's thread
    work = loop.run_in_executor(None, contextvars.copy_context().run, run_answer, ctx, services, caller)
    work.add_done_callback(lambda _: loop.call_soon_threadsafe(queue.put_nowait, ("_end", None)))
    try:
        while True:
            event, data = await queue.get()
            if event == "_end":
                break
            if event == "delta" and first:
                first = False
                FIRST_ANSWER_SECONDS.observe(time.perf_counter() - started)
            yield {"event": event, "data": json.dumps(data, ensure_ascii=False)}
        try:
            await work
        except Exception as exc:  # the audit record could not be written: no answer goes out
            log.exception("answer pipeline failed")
            yield {"event": "error", "data": json.dumps({"code": "internal", "message": str(exc)}, ensure_ascii=False)}
            return
        if ctx.retryable:
            yield {"event": "error", "data": json.dumps({"code": "unavailable", "message": STORE_DOWN},
                                                        ensure_ascii=False)}
            return
        yield {"event": "done", "data": ChatResponse.of(answer_outcome(ctx)).model_dump_json()}
    except asyncio.CancelledError:
        # the client went away: stop generating; the pipeline still finishes and records the event as
        # cancelled. When it had already recorded it (the answer was made, not all of it delivered),
        # a second event says the stream was cancelled, so the log never claims a delivered answer.
        ctx.cancel.set()
        if ctx.audit_id:  # recorded already: as made, not as delivered
            services.audit.record(AuditEvent("answer", ctx.channel, "cancelled", ctx.question, None, {
                "answer_event": ctx.audit_id, "delivered": "part"}, session_id=ctx.session_id, actor=ctx.actor))
        raise
