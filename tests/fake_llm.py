"""An OpenAI-compatible chat-completions server on loopback for tests: it streams, stalls, fails
and writes bad citations on cue. The real protocol over real HTTP, not a patched function."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeLLM:
    """mode: "stream" (reply in small pieces), "error" (HTTP 500), "stall" (headers, then silence),
    "stream_error" (a few pieces, then an error event), "garbage" (a 200 stream of what is not JSON)."""

    def __init__(self) -> None:
        self.mode = "stream"
        self.reply: Callable[[list[dict]], str] = lambda messages: "现有资料中没有找到答案。"
        self.piece_delay_s = 0.0
        self.requests: list[dict] = []
        self.disconnects = 0
        self.disconnected = threading.Event()  # set when a client hangs up mid-stream: tests wait on it
        self.pieces_sent = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if fake.mode == "error":
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"error": {"message": "CUDA out of memory"}}')
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                if fake.mode == "stall":
                    time.sleep(5)
                    return
                if fake.mode == "garbage":
                    self.wfile.write(b"data: <html>502 Bad Gateway</html>\n\ndata: {\"choices\": [\n\n")
                    self.wfile.flush()
                    return
                text = fake.reply(body["messages"])
                pieces = [text[i:i + 3] for i in range(0, len(text), 3)]
                try:
                    for n, piece in enumerate(pieces):
                        if fake.mode == "stream_error" and n == 4:
                            self._event({"error": {"message": "engine died"}})
                            return
                        self._event({"choices": [{"index": 0, "delta": {"content": piece}}]})
                        fake.pieces_sent += 1
                        time.sleep(fake.piece_delay_s)
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    fake.disconnects += 1
                    fake.disconnected.set()

            def _event(self, data: dict) -> None:
                self.wfile.write(f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode())
                self.wfile.flush()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def __enter__(self) -> "FakeLLM":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def source_number(messages: list[dict], needle: str) -> int:
    """The [n] of the source block in the prompt that contains `needle`."""
    prompt = messages[-1]["content"]
    blocks = re.split(r"\n(?=\[\d+\] 《)", prompt)
    for block in blocks:
        match = re.match(r"(?:资料：\n)?\[(\d+)\] 《", block.strip())
        if match and needle in block:
            return int(match.group(1))
    raise AssertionError(f"no source contains {needle!r}")
