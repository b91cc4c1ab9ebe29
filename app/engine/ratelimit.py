"""Per-site token buckets: bursts of 10 000 emails in a second are how automation gets banned."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlparse

from app.domain.task import Policy


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self) -> float:
        """Take one token, waiting if needed. Returns the seconds waited."""
        waited = 0.0
        async with self._lock:  # FIFO: waiters are served in arrival order
            self._refill()
            while self._tokens < 1:
                delay = (1 - self._tokens) / self.rate
                await asyncio.sleep(delay)
                waited += delay
                self._refill()
            self._tokens -= 1
        return waited


class SiteRateLimiter:
    """One bucket per site (scheme://host:port), shared by every run in this process."""

    def __init__(self, ceiling: tuple[float, int] | None = None) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        # (per_second, burst) no task may exceed on any site: the operator's setting.
        self.ceiling = ceiling

    @staticmethod
    def site_key(url: str | None) -> str:
        if not url:
            return ""
        parsed = urlparse(url)
        return f"{parsed.scheme}://{parsed.netloc}".lower()

    async def acquire(self, url: str | None, policy: Policy) -> float:
        key = self.site_key(url)
        if not key:
            return 0.0
        bucket = self._buckets.get(key)
        per_second, burst_of = policy.rate_limit.per_second, policy.rate_limit.burst
        if self.ceiling is not None:
            per_second, burst_of = min(per_second, self.ceiling[0]), min(burst_of, self.ceiling[1])
        if bucket is None or (bucket.rate, bucket.burst) != (per_second, burst_of):
            # The strictest policy seen for a site wins; a task cannot loosen another's limit.
            rate = min(per_second, bucket.rate) if bucket else per_second
            burst = min(burst_of, bucket.burst) if bucket else burst_of
            if bucket is None or (rate, burst) != (bucket.rate, bucket.burst):
                bucket = self._buckets[key] = TokenBucket(rate, burst)
        return await bucket.acquire()
