"""The assistant as Model Context Protocol tools, for agent frameworks (the official `mcp` SDK):

- `search_policies` — the clauses nearest a question, each with its document's 文号, validity and the
  clause's offsets (what GET /v1/search returns);
- `get_policy` — one document by its doc id or its 文号 (any spelling of the brackets), with its validity,
  body and related documents (what GET /v1/policies/{doc_id} returns);
- `ask` — the cited answer of POST /v1/chat: the text with its [n] markers and a sources block, the
  references beside it; a refusal is an answer too (`refusal: true`), not an error.

Two transports, one set of tools: streamable HTTP at `POST /mcp` in the app (stateless, JSON replies), and
stdio (`jingce mcp`, in-process over the configured store). Over HTTP the app's own `authorize` admits each
request (keys, roles, limits, audit of denials: the route is declared in access.py like every other);
over stdio the key given at start is checked once and each tool call is counted against its limit
here. Either way a tool open to fewer roles than the route (`ask`: not the auditor) is refused per
call (TOOL_ROLES in access.py), and every call is an audit event of channel `mcp`.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Annotated, Any, Callable

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from app.api.access import TOOL_ROLES, Caller
from app.api.policy_schemas import PolicyDocumentOut, PolicyMeta, RelatedOut
from app.api.problems import STORE_DOWN, ProblemError
from app.api.reads import filter_record, record_lookup
from app.api.routes_chat import run_answer
from app.api.routes_openai import Reference, references_of, sources_block
from app.api.routes_search import search_arguments_problem
from app.api.schemas import MAX_QUESTION_CHARS, SearchHitOut
from app.audit.store import AuditEvent
from app.composition import Services
from app.domain import SearchFilters, normalize_doc_number
from app.pipeline.context import AnswerContext
from app.pipeline.outcome import answer_outcome

CHANNEL = "mcp"
router = APIRouter()

_INSTRUCTIONS = ("京策助手：北京市政策文件检索与问答。search_policies 找条款（带文号、效力状态、条款位置），get_policy 按文号或 "
                 "doc id 读全文，ask 得到逐句带引用的回答；语料无法回答时 ask 明确拒答，不编造政策。")


class SearchOut(BaseModel):
    query: str
    hits: list[SearchHitOut] = Field(description="Nearest clauses first; documents out of force only when asked for.")


class AskOut(BaseModel):
    answer: str = Field(description="The answer, each sentence with its [n] citation markers (a refusal's text when "
                                    "refused).")
    status: str = Field(description="answered | answered_partial | refused_* | crisis …, as /v1/chat says.")
    refusal: bool
    notice: str | None = Field(description="An amendment or validity notice about the sources, if any.")
    references: list[Reference]
    audit_id: str | None


class _Doorman:
    """Who calls a tool, whether they may, and whether they are within their limit — the caller as
    `authorize` admitted the HTTP request, or the one key `jingce mcp` was started with."""

    def __init__(self, services_of: Callable[[], Services], stdio_caller: Caller | None) -> None:
        self.services_of, self.stdio_caller = services_of, stdio_caller

    def admit(self, ctx: Context, tool: str) -> tuple[Services, Caller, Request | None]:
        services = self.services_of()
        request = ctx.request_context.request
        caller = request.state.caller if request is not None else self.stdio_caller
        if caller.role not in TOOL_ROLES[tool]:
            self._deny(services, caller, tool, "forbidden", f"the tool {tool} is not open to the {caller.role} role "
                       f"(it needs {' or '.join(TOOL_ROLES[tool])})", request)
        if request is None:  # over HTTP, authorize has counted the request already
            auth = services.settings.auth
            per_minute = getattr(auth, f"{caller.role}_per_minute")
            wait = services.limiter.hit(caller.limit_key, per_minute) if per_minute else None
            if wait is not None:
                self._deny(services, caller, tool, "rate_limited", f"more than {per_minute} calls in 60 s; try again "
                           f"in {int(wait) + 1} s", request)
        return services, caller, request

    @staticmethod
    def _deny(services: Services, caller: Caller, tool: str, outcome: str, detail: str, request: Request | None):
        services.audit.record(AuditEvent("access", CHANNEL, outcome, actor=caller.actor, details={
            "tool": tool, "client": caller.address, "detail": detail}))
        if request is not None:
            request.state.audited = True
        raise ToolError(detail)


def _looked_up(services: Services, caller: Caller, request: Request | None, endpoint: str, status: str,
               q: str | None, details: dict[str, Any]) -> None:
    record_lookup(services, CHANNEL, endpoint, status, q, details, caller.address, caller.actor)
    if request is not None:
        request.state.audited = True  # the trail need not record the request again


def build_mcp_server(services_of: Callable[[], Services], stdio_caller: Caller | None = None) -> MCPServer:
    """The three tools over the services `services_of()` gives (the app's, or the CLI's)."""
    with _logging_left_alone():
        server = MCPServer(name="jingce", title="京策助手", instructions=_INSTRUCTIONS, version="0.1.0")
    doorman = _Doorman(services_of, stdio_caller)

    @server.tool(title="检索政策条款")
    async def search_policies(
        query: Annotated[str, Field(min_length=1, description="The question or keywords, in Chinese.")],
        ctx: Context,
        top_k: Annotated[int, Field(ge=1, le=50, description="Clauses wanted (at most RETRIEVAL_MAX_TOP_K).")] = 5,
        include_not_in_force: Annotated[bool, Field(description="Also documents known to be out of force "
                                                                "(已修订, 已失效, 已废止).")] = False,
        issuer: Annotated[str | None, Field(description="One 发文机关, e.g. 北京市民政局")] = None,
        district: Annotated[str | None, Field(description="A Beijing district, e.g. 朝阳区")] = None,
        level: Annotated[str | None, Field(description="国家 | 市级 | 区级")] = None,
    ) -> SearchOut:
        """Search Beijing policy documents: the clauses nearest the query, each with its document's 文号,
        validity (现行有效 …), the clause's heading path and its character offsets in the document."""
        services, caller, request = doorman.admit(ctx, "search_policies")
        problem = search_arguments_problem(services.settings, query, top_k, level, q_name="query")
        if problem:
            raise ToolError(problem)
        filters = SearchFilters(include_not_in_force=include_not_in_force, issuer=issuer, district=district,
                                level=level)
        result = await run_in_threadpool(services.retriever.search_detailed, query, top_k, filters)
        await run_in_threadpool(_looked_up, services, caller, request, "search", "ok", query, {
            "filters": filter_record(filters), "found": len(result.hits),
            "chunk_ids": [h.chunk_id for h in result.hits]})
        return SearchOut(query=query, hits=[SearchHitOut.from_hit(h) for h in result.hits])

    @server.tool(title="读取政策文件")
    async def get_policy(
        ref: Annotated[str, Field(min_length=1, max_length=200, description=(
            "A doc id (bj-2024-minimum-living-allowance) or a 文号 in any bracket style (京民社救发〔2024〕80号, "
            "京民社救发[2024]80号)."))],
        ctx: Context,
    ) -> PolicyDocumentOut:
        """One policy document by doc id or 文号, whatever its validity (shown): metadata, cleaned body, its
        chunks' offsets and the documents it cites, amends or repeals (and those that amend or repeal it)."""
        services, caller, request = doorman.admit(ctx, "get_policy")
        found = await run_in_threadpool(_document, services, ref.strip())
        await run_in_threadpool(_looked_up, services, caller, request, "document", "ok" if found else "not_found",
                                None, {"ref": ref, "found": int(found is not None)})
        if found is None:
            raise ToolError(f"no document with the doc id or 文号 {ref!r}")
        return PolicyDocumentOut(document=PolicyMeta.of(found.document), body=found.body, chunks=found.chunks,
                                 related=[RelatedOut(relation=r.relation, document=PolicyMeta.of(r.document))
                                          for r in found.related])

    @server.tool(title="政策问答")
    async def ask(
        question: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS,
                                       description="The question, in plain Chinese.")],
        ctx: Context,
        history: Annotated[list[str], Field(max_length=20, description=(
            "The conversation's earlier questions, oldest first: a follow-up (那他一个月能拿多少？) is read in "
            "their light."))] = [],  # noqa: B006 - pydantic copies defaults
    ) -> Annotated[CallToolResult, AskOut]:
        """A cited answer from the indexed Beijing policy documents only: every sentence carries [n] markers
        naming its source, the sources (文号, validity, quoted span) follow. When the documents do not answer
        it, the reply says so (refusal: true) instead of guessing."""
        services, caller, _ = doorman.admit(ctx, "ask")
        context = AnswerContext(question, channel=CHANNEL, actor=caller.actor,
                                history=[{"question": q} for q in history[-5:] if q.strip()])
        context = await run_in_threadpool(run_answer, context, services, caller)  # recorded by the pipeline
        if context.retryable:
            raise ToolError(STORE_DOWN)
        outcome = answer_outcome(context)
        references = references_of(outcome)
        said = AskOut(answer=outcome.answer, status=outcome.status, refusal=outcome.refusal, notice=outcome.notice,
                      references=references, audit_id=outcome.audit_id)
        return CallToolResult(content=[TextContent(type="text", text=outcome.answer + sources_block(references))],
                              structured_content=said.model_dump(mode="json"))

    return server


@contextmanager
def _logging_left_alone():
    """The SDK's server configures logging on construction (`logging.basicConfig` with its own handler
    on the root logger) unless the root has a handler already: the service's log format (JSON lines) and
    a test process's logging are not its to set."""
    root = logging.getLogger()
    placeholder = logging.NullHandler() if not root.handlers else None
    if placeholder:
        root.addHandler(placeholder)
    try:
        yield
    finally:
        if placeholder:
            root.removeHandler(placeholder)


def _document(services: Services, ref: str):
    key = normalize_doc_number(ref)
    if key is not None:  # a 文号: its document whatever its validity, as the lookup API finds it
        page = services.lookup.find(None, SearchFilters(include_not_in_force=True, doc_number_key=key), None, 1, None)
        if not page.matches:
            return None
        ref = page.matches[0].document["doc_id"]
    return services.lookup.document(ref)


def http_server(app) -> MCPServer:
    """The app's MCP server, stateless (any worker answers any request; no session to lose) with JSON
    replies. DNS-rebinding checks are the SDK's guard for servers on a developer's localhost; this one
    is a deployed service whose every call is admitted by key and role (and CORS) before it gets here."""
    server = build_mcp_server(lambda: app.state.services)
    server.streamable_http_app(stateless_http=True, json_response=True, transport_security=TransportSecuritySettings(
        enable_dns_rebinding_protection=False))
    return server


class _Handover(Response):
    """Hands the request, as received, to the MCP transport (FastAPI has admitted it; nothing was read)."""

    def __init__(self, handle) -> None:
        super().__init__()
        self.handle = handle

    async def __call__(self, scope, receive, send) -> None:
        await self.handle(scope, receive, send)


@router.post("/mcp", include_in_schema=False)
async def mcp_endpoint(request: Request) -> Response:
    server = getattr(request.app.state, "mcp", None)  # made when the app starts (its lifespan)
    if server is None:
        raise ProblemError(503, "the MCP transport is not running: the app was not started with its lifespan")
    return _Handover(server.session_manager.handle_request)
