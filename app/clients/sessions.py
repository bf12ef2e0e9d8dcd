"""Conversation history per session: in-process by default, Redis when REDIS_URL is set (so that
several app replicas share it). Bounded in turns, expiring after a TTL of inactivity. Only masked
questions are kept."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Protocol


log = logging.getLogger(__name__)


class SessionStore(Protocol):
    def history(self, session_id: str) -> list[dict[str, str]]: ...

    def ping(self) -> str: ...

    def append(self, session_id: str, turn: dict[str, str]) -> None: ...


class MemorySessionStore:
    @staticmethod
    def ping() -> str:
        return "in process"

    def __init__(self, ttl_s: float = 1800, max_turns: int = 10, max_sessions: int = 10_000) -> None:
        self.ttl_s, self.max_turns, self.max_sessions = ttl_s, max_turns, max_sessions
        self._sessions: OrderedDict[str, tuple[float, list[dict[str, str]]]] = OrderedDict()
        self._lock = threading.Lock()

    def history(self, session_id: str) -> list[dict[str, str]]:
        with self._lock:
            item = self._sessions.get(session_id)
            if item is None or time.monotonic() - item[0] > self.ttl_s:
                self._sessions.pop(session_id, None)
                return []
            return list(item[1])

    def append(self, session_id: str, turn: dict[str, str]) -> None:
        with self._lock:
            _, turns = self._sessions.pop(session_id, (0.0, []))
            turns = (turns + [turn])[-self.max_turns:]
            self._sessions[session_id] = (time.monotonic(), turns)
            while len(self._sessions) > self.max_sessions:  # least recently used goes first
                self._sessions.popitem(last=False)


class RedisSessionStore:
    def __init__(self, url: str, ttl_s: int = 1800, max_turns: int = 10, prefix: str = "jingce:session:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True)
        try:
            self._redis.ping()
        except redis.RedisError as exc:  # configured but unreachable: say so at start-up
            raise RuntimeError(f"Redis at {url} is not reachable: {exc}") from exc
        self.ttl_s, self.max_turns, self.prefix = ttl_s, max_turns, prefix

    def ping(self) -> str:
        self._redis.ping()
        return "redis"

    # Redis going away after start-up degrades to answering without history (each question read on
    # its own), logged; it never fails a question. Documented in docs/runbook.md.
    def history(self, session_id: str) -> list[dict[str, str]]:
        import redis

        try:
            return [json.loads(item) for item in self._redis.lrange(self.prefix + session_id, 0, -1)]
        except redis.RedisError as exc:
            log.warning("session history unavailable, answering without it: %s", exc)
            return []

    def append(self, session_id: str, turn: dict[str, str]) -> None:
        import redis

        key = self.prefix + session_id
        try:
            with self._redis.pipeline() as pipe:
                pipe.rpush(key, json.dumps(turn, ensure_ascii=False))
                pipe.ltrim(key, -self.max_turns, -1)
                pipe.expire(key, self.ttl_s)
                pipe.execute()
        except redis.RedisError as exc:
            log.warning("session history not saved: %s", exc)
