"""OpenAI-compatible chat completions (what vLLM serves), streamed, with a timeout, retries with
backoff and a circuit breaker.

Retries happen only before the first token arrives: once text has streamed to a user, repeating
the request would repeat it. After `failure_threshold` consecutive failures the breaker opens and
calls fail at once for `cooldown_s`, so a dead LLM costs each question nothing but the fallback.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import httpx


class LLMUnavailable(Exception):
    """The LLM could not give an answer: down, timed out, erroring, or the breaker is open."""


class CircuitBreaker:
    def __init__(self, failure_threshold: int = 3, cooldown_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failure_threshold, self.cooldown_s, self.clock = failure_threshold, cooldown_s, clock
        self._failures = 0
        self._opened_at: float | None = None
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        with self._lock:
            if self._opened_at is None:
                return False
            if self.clock() - self._opened_at >= self.cooldown_s:
                self._opened_at = None  # half-open: let one call try
                self._failures = self.failure_threshold - 1
                return False
            return True

    def success(self) -> None:
        with self._lock:
            self._failures, self._opened_at = 0, None

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._opened_at = self.clock()


class LLMClient:
    def __init__(self, base_url: str, model: str, api_key: str | None = None, connect_timeout_s: float = 2.0,
                 read_timeout_s: float = 10.0, max_retries: int = 2, backoff_s: float = 0.2,
                 breaker: CircuitBreaker | None = None, temperature: float = 0.0, max_tokens: int = 600) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers,
                                  timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s))
        self.model, self.max_retries, self.backoff_s = model, max_retries, backoff_s
        self.temperature, self.max_tokens = temperature, max_tokens
        self.breaker = breaker or CircuitBreaker()

    def stream_chat(self, messages: list[dict[str, str]], cancelled: Callable[[], bool] = lambda: False) -> Iterator[str]:
        """Text deltas of one chat completion. Raises LLMUnavailable before the first delta when
        the server cannot answer; a failure after text has flowed also raises it, and the caller
        decides what to do with the partial text. Stops (closing the connection) when cancelled."""
        if self.breaker.open:
            raise LLMUnavailable("circuit breaker open: the LLM failed repeatedly, waiting before trying again")
        body = {"model": self.model, "messages": messages, "stream": True, "temperature": self.temperature,
                "max_tokens": self.max_tokens}
        attempt = 0
        while True:
            started = False
            try:
                with self._http.stream("POST", "/chat/completions", json=body) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise LLMUnavailable(f"LLM answered HTTP {response.status_code}: {response.text[:200]}")
                    for delta in _sse_deltas(response.iter_lines()):
                        if cancelled():
                            return  # leaving the with-block closes the connection: the server stops
                        started = True
                        yield delta
                self.breaker.success()
                return
            except (httpx.TransportError, LLMUnavailable, ValueError) as exc:
                self.breaker.failure()
                if started or attempt >= self.max_retries or self.breaker.open:
                    raise exc if isinstance(exc, LLMUnavailable) else LLMUnavailable(
                        f"{type(exc).__name__}: {exc}") from exc
                attempt += 1
                time.sleep(self.backoff_s * 2 ** (attempt - 1))

    def close(self) -> None:
        self._http.close()


def _sse_deltas(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        chunk = json.loads(data)
        if "error" in chunk:
            raise LLMUnavailable(f"LLM stream error: {chunk['error']}")
        for choice in chunk.get("choices", []):
            text = (choice.get("delta") or {}).get("content")
            if text:
                yield text
