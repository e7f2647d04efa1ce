"""Per-key sliding-window rate limits for public intake (per IP and per token). In-process memory only.

`QINGLANG_RATE_LIMIT=0` turns them off. Behind a load balancer each process limits on its own.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from qinglang.errors import RateLimited


class RateLimiter:
    def __init__(self, per_minute: int, *, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.per_minute = per_minute
        self.window = window
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        if self.per_minute <= 0:
            return
        now = time.monotonic()
        with self._lock:
            q = self._hits.get(key)
            if q is None:
                if len(self._hits) >= self.max_keys:
                    self._evict(now)
                q = self._hits[key] = deque()
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) >= self.per_minute:
                raise RateLimited(f"too many reports: at most {self.per_minute} per minute")
            q.append(now)

    def _evict(self, now: float) -> None:
        for k in [k for k, q in self._hits.items() if not q or q[-1] <= now - self.window]:
            del self._hits[k]
