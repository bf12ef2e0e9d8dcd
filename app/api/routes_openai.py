"""The assistant behind the OpenAI chat-completions protocol (POST /v1/chat/completions, GET /v1/models),
so that the chat front ends and app builders other government teams already run (Open WebUI, Dify,
LobeChat, LiteLLM, LangChain's ChatOpenAI) reach it with a base URL and a key — as RAGFlow serves its
assistants.

It is /v1/chat underneath: the last user message is the question, the earlier user messages its
conversation (a follow-up is read in their light), the same keys, roles, limits, pipeline and audit
(channel `openai`). The content is the cited answer with its `[n]` markers and a short sources block;
`references` beside it carries each source's 文号, title, validity, quoted span and URL. A refusal or
the crisis reply is a normal completion with its text (`finish_reason: stop`, `jingce.status` says
which). Parameters that would change what a client gets and that the assistant cannot honour (tools,
functions, n > 1, logprobs, JSON output) are refused with a 400 naming them; sampling parameters
(temperature, top_p, max_tokens …) are accepted and have no effect: the answer is quoted from the
documents, not sampled. Errors have OpenAI's shape (`{"error": {"message", "type", "param", "code"}}`).
"""

from __future__ import annotations

import json
import time
import uuid
from http import HTTPStatus
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from app.api.access import Caller
from app.api.deps import ServicesDep
from app.api.problems import ProblemError
from app.api.routes_chat import answer_events, run_answer
from app.api.schemas import MAX_QUESTION_CHARS
from app.clients.vector_store import StoreUnavailable
from app.pipeline.context import AnswerContext
from app.pipeline.outcome import AnswerOutcome, answer_outcome

router = APIRouter(tags=["openai"])
MODEL_ID = "jingce"
CHANNEL = "openai"
_STARTED = int(time.time())


class ContentPart(BaseModel):
    type: str
    text: str | None = None


class Message(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    model_config = {"extra": "allow"}  # name, tool_calls …: read past

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class CompletionRequest(BaseModel):
    model: str = Field(description=f"`{MODEL_ID}` (GET /v1/models).")
    messages: list[Message] = Field(min_length=1, max_length=100)
    stream: bool = False
    n: int | None = Field(None, description="Only 1.")
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    tool_choice: Any = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    response_format: dict[str, Any] | None = None

    model_config = {"extra": "allow",  # temperature, top_p, max_tokens, user, stream_options …: no effect
                    "json_schema_extra": {"examples": [{"model": MODEL_ID, "messages": [
                        {"role": "user", "content": "北京低保现在每个月多少钱？"}]}]}}

    def refused_parameter(self) -> str | None:
        """The first parameter asked for that the assistant cannot honour."""
        if self.tools or self.functions or self.tool_choice not in (None, "none"):
            return "tools"
        if self.n not in (None, 1):
            return "n"
        if self.logprobs or self.top_logprobs:
            return "logprobs"
        if self.response_format and self.response_format.get("type") not in (None, "text"):
            return "response_format"
        return None


class OpenAIError(BaseModel):
    message: str
    type: str = Field(description="invalid_request_error | authentication_error | permission_error | "
                                  "not_found_error | rate_limit_error | server_error")
    param: str | None = Field(description="The parameter at fault, where one is.")
    code: str | None


class OpenAIErrorBody(BaseModel):
    error: OpenAIError


def openai_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry documenting OpenAI-shaped error bodies (problems.py writes them on these paths)."""
    return {status: {"model": OpenAIErrorBody, "description": HTTPStatus(status).phrase} for status in statuses}


class Reference(BaseModel):
    number: int
    doc_id: str
    kind: str = Field(description="policy (a policy document) | knowledge (a hotline answer script, with its basis)")
    title: str | None
    doc_number: str | None = Field(description="文号")
    basis: list[str] = Field(description="A knowledge entry's policy basis: the 文号 (or doc ids) it rests on.")
    validity: str | None
    quote: str = Field(description="The span of the document the answer quotes from this source (the first).")
    start: int
    end: int
    url: str | None


def _question(body: CompletionRequest) -> tuple[str, list[dict[str, str]]]:
    if body.model != MODEL_ID:
        raise ProblemError(404, f"the model `{body.model}` does not exist; this service has `{MODEL_ID}`",
                           field="model", location="body")
    refused = body.refused_parameter()
    if refused:
        raise ProblemError(400, "not supported: the assistant answers with one cited answer, quoted from the "
                                "documents (no tools, one choice, no logprobs, text only)", field=refused,
                           location="body")
    asked = [m.text.strip() for m in body.messages if m.role == "user" and m.text.strip()]
    if not asked or body.messages[-1].role != "user":
        raise ProblemError(400, "the last message must be the user's question", field="messages", location="body")
    if len(asked[-1]) > MAX_QUESTION_CHARS:
        raise ProblemError(400, f"the question is longer than {MAX_QUESTION_CHARS:,} characters", field="messages",
                           location="body")
    return asked[-1], [{"question": q} for q in asked[:-1][-5:]]


def _context(body: CompletionRequest, caller: Caller) -> AnswerContext:
    question, history = _question(body)
    return AnswerContext(question, channel=CHANNEL, history=history, actor=caller.actor)


def references_of(outcome: AnswerOutcome) -> list[Reference]:
    quoted: dict[int, Any] = {}
    for sentence in outcome.sentences:
        for citation in sentence.citations:
            quoted.setdefault(citation.number, citation)
    out = []
    for number, hit in outcome.sources:
        citation = quoted.get(number)
        out.append(Reference(number=number, doc_id=hit.doc_id, kind=hit.document.get("kind") or "policy",
                             title=hit.document.get("title"), doc_number=hit.document.get("doc_number"),
                             basis=[b.get("doc_number") or b.get("doc_id") for b in hit.document.get("basis") or []],
                             validity=hit.document.get("validity"),
                             quote=citation.quote if citation else hit.text[:160],
                             start=citation.start if citation else hit.start, end=citation.end if citation else hit.end,
                             url=hit.document.get("source_url")))
    return out


def sources_block(references: list[Reference]) -> str:
    """"来源：[1] 标题（京民社救发〔2024〕80号，现行有效）" — a hotline answer script with what it rests on
    ("[2] 12345热线答复口径：…（依据：京民社救发〔2024〕80号）"): what a chat window shows under the answer."""
    if not references:
        return ""

    def line(numbers: str, r: Reference) -> str:
        if r.kind == "knowledge":
            said = f"（依据：{'、'.join(r.basis)}）" if r.basis else ""
            return f"{numbers} 12345热线答复口径：{r.title or r.doc_id}{said}"
        said = "，".join(x for x in (r.doc_number, r.validity) if x)
        return f"{numbers} {r.title or r.doc_id}" + (f"（{said}）" if said else "")

    by_document: dict[str, list[Reference]] = {}  # several clauses of one document: one line, all its numbers
    for r in references:
        by_document.setdefault(r.doc_id, []).append(r)
    return "\n\n来源：\n" + "\n".join(line("".join(f"[{r.number}]" for r in rs), rs[0]) for rs in by_document.values())


def _extension(outcome: AnswerOutcome) -> dict[str, Any]:
    return {"status": outcome.status, "refusal": outcome.refusal, "notice": outcome.notice,
            "degraded": outcome.degraded, "audit_id": outcome.audit_id}


def _completion_id(outcome: AnswerOutcome) -> str:
    return f"chatcmpl-{outcome.audit_id or 'unrecorded'}"


@router.get("/v1/models", summary="The models this service answers as (OpenAI protocol)",
            responses=openai_errors(401, 403, 429))
async def models() -> Any:
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": _STARTED, "owned_by": "jingce"}]}


@router.post("/v1/chat/completions", summary="A cited answer through the OpenAI chat-completions protocol",
             responses={200: {"content": {"text/event-stream": {}}}, **openai_errors(400, 401, 403, 404, 422, 429, 503)})
async def chat_completions(body: CompletionRequest, request: Request, services: ServicesDep):
    caller: Caller = request.state.caller
    ctx = _context(body, caller)
    request.state.audited = True  # the answer pipeline's record step records, also on failure
    if body.stream:
        return EventSourceResponse(_chunks(ctx, services, caller), ping=15, sep="\n")
    ctx = await run_in_threadpool(run_answer, ctx, services, caller)
    if ctx.retryable:
        raise StoreUnavailable(ctx.error or "the store cannot be reached")
    outcome = answer_outcome(ctx)
    references = references_of(outcome)
    return {"id": _completion_id(outcome), "object": "chat.completion", "created": int(time.time()),
            "model": MODEL_ID, "choices": [{
                "index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": outcome.answer + sources_block(references),
                            "refusal": None}}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "references": [r.model_dump() for r in references], "jingce": _extension(outcome)}


async def _chunks(ctx: AnswerContext, services, caller: Caller):
    """/v1/chat's events as OpenAI chunks: the role at once, each checked sentence as it comes, then the
    sources block (or the refusal's text) and the finish; `[DONE]` last."""
    created, stream_id = int(time.time()), f"chatcmpl-{uuid.uuid4()}"

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, str]:
        return {"data": json.dumps({"id": stream_id, "object": "chat.completion.chunk", "created": created,
                                    "model": MODEL_ID, "choices": [{"index": 0, "delta": delta,
                                                                    "finish_reason": finish}], **extra},
                                   ensure_ascii=False)}

    yield chunk({"role": "assistant", "content": ""})
    streamed = False
    async for event in answer_events(ctx, services, caller):
        name, data = event["event"], json.loads(event["data"])
        if name == "delta":
            streamed = True
            yield chunk({"content": data["text"]})
        elif name == "error":
            yield {"data": json.dumps({"error": {"message": data["message"], "type": "server_error",
                                                 "param": None, "code": data["code"]}}, ensure_ascii=False)}
            return
        elif name == "done":
            outcome = answer_outcome(ctx)
            references = references_of(outcome)
            tail = ("" if streamed and not outcome.refusal else outcome.answer) + sources_block(references)
            if tail:
                yield chunk({"content": tail})
            yield chunk({}, "stop", references=[r.model_dump() for r in references], jingce=_extension(outcome))
    yield {"data": "[DONE]"}
