"""What every response of the app gets, whatever route it reaches (ASGI middleware, outermost):

- a request body larger than SERVER_MAX_BODY_BYTES is refused with 413 before any route parses it —
  at once by its Content-Length, or as soon as a chunked body passes the limit (a 49 MB body was
  read and answered 200; eight of them at once grew the server by 215 MB);
- security headers: no MIME sniffing, no framing, no referrer, and a content security policy that
  allows only the app's own resources — no inline script anywhere (the pages load their scripts
  from /assets). `/docs` (vendored Swagger UI) also needs inline styles and data: images: still
  nothing from another host.
"""

from __future__ import annotations

from http import HTTPStatus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jingce_client.models import Problem

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
CONTENT_SECURITY_POLICY = (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'")
DOCS_CONTENT_SECURITY_POLICY = (b"content-security-policy", b"default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                b"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
_DOCS_PAGES = ("/docs",)


class Hardening:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        extra = SECURITY_HEADERS + [DOCS_CONTENT_SECURITY_POLICY if scope["path"] in _DOCS_PAGES
                                    else CONTENT_SECURITY_POLICY]
        declared = headers.get(b"content-length", b"").strip()
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, send, extra)
            return
        received, exceeded, replaced = 0, False, False

        async def limited_receive() -> Message:
            # past the limit the body ends here (the route sees a short body and fails as it will);
            # whatever it answers is replaced by the 413
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    exceeded = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal replaced
            if exceeded:
                if not replaced:
                    replaced = True
                    await self._too_large(scope, send, extra)
                return
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, limited_receive, send_with_headers)

    async def _too_large(self, scope: Scope, send: Send, extra: list[tuple[bytes, bytes]]) -> None:
        status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
        body = Problem(title=status.phrase, status=status.value, instance=scope["path"],
                       detail=f"the request body is larger than {self.max_body_bytes} bytes "
                              "(SERVER_MAX_BODY_BYTES)").model_dump_json().encode()
        await send({"type": "http.response.start", "status": status.value,
                    "headers": [(b"content-type", b"application/problem+json"),
                                (b"content-length", str(len(body)).encode()), (b"connection", b"close"), *extra]})
        await send({"type": "http.response.body", "body": body})
