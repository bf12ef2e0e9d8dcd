"""Sliding-window request limits: at most `limit` requests in any `window_s` seconds per key.
In the process by default; in Redis (a sorted set of request times per key) when configured, so
replicas share the count. A Redis that goes away is logged and the process's own count takes over —
a limit that fails open entirely would let a flood through while Redis is down.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from typing import Protocol

log = logging.getLogger(__name__)


class Limiter(Protocol):
    def hit(self, key: str, limit: int, window_s: float = 60.0) -> float | None: ...

    def peek(self, key: str, limit: int, window_s: float = 60.0) -> float | None: ...

    def ping(self) -> str: ...


class MemoryLimiter:
    @staticmethod
    def ping() -> str:
        return "in process"

    def __init__(self, max_keys: int = 100_000) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.max_keys = max_keys

    def hit(self, key: str, limit: int, window_s: float = 60.0) -> float | None:
        """Counts a request; None when it is within the limit, else the seconds until one is allowed
        (the request is then not counted)."""
        now = time.monotonic()
        with self._lock:
            times = self._hits.get(key)
            if times is None:
                if len(self._hits) >= self.max_keys:  # forget idle keys rather than grow without bound
                    for stale in [k for k, t in self._hits.items() if not t or t[-1] < now - window_s]:
                        del self._hits[stale]
                times = self._hits[key] = deque()
            while times and times[0] <= now - window_s:
                times.popleft()
            if len(times) >= limit:
                return max(times[0] + window_s - now, 0.001)
            times.append(now)
            return None

    def peek(self, key: str, limit: int, window_s: float = 60.0) -> float | None:
        """As `hit`, without counting: whether a request now would be over the limit."""
        now = time.monotonic()
        with self._lock:
            times = [t for t in self._hits.get(key, ()) if t > now - window_s]
        return max(times[0] + window_s - now, 0.001) if len(times) >= limit else None


# one round trip, atomic: replicas counting the same key never both take the last place
_SLIDING_WINDOW = """
local name, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', name, 0, now - window)
if redis.call('ZCARD', name) >= limit then
  local oldest = redis.call('ZRANGE', name, 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', name, now, ARGV[4])
redis.call('EXPIRE', name, math.ceil(window) + 1)
return false
"""


class RedisLimiter:
    def __init__(self, url: str, prefix: str = "jingce:rate:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            self._redis.ping()
        except redis.RedisError as exc:  # configured but unreachable: say so at start-up
            raise RuntimeError(f"Redis at {url} is not reachable: {exc}") from exc
        self.prefix, self._fallback = prefix, MemoryLimiter()
        self._script = self._redis.register_script(_SLIDING_WINDOW)

    def ping(self) -> str:
        self._redis.ping()
        return "redis"

    def hit(self, key: str, limit: int, window_s: float = 60.0) -> float | None:
        import redis

        try:
            wait = self._script(keys=[self.prefix + key], args=[time.time(), window_s, limit, uuid.uuid4().hex])
            return None if wait is None else max(float(wait), 0.001)
        except redis.RedisError as exc:
            log.warning("rate limits counted in this process, Redis unavailable: %s", exc)
            return self._fallback.hit(key, limit, window_s)

    def peek(self, key: str, limit: int, window_s: float = 60.0) -> float | None:
        import redis

        now = time.time()
        try:
            oldest = self._redis.zrangebyscore(self.prefix + key, now - window_s, "+inf", start=0, num=1,
                                               withscores=True)
            count = self._redis.zcount(self.prefix + key, now - window_s, "+inf")
        except redis.RedisError as exc:
            log.warning("rate limits counted in this process, Redis unavailable: %s", exc)
            return self._fallback.peek(key, limit, window_s)
        return max(oldest[0][1] + window_s - now, 0.001) if count >= limit and oldest else None
