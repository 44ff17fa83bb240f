"""Optional per-source rate limits: a token bucket refilled at the source's events per second."""

import math
import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    rate: float
    tokens: float = field(init=False)
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.rate  # one second of burst

    def take(self, count: int) -> float | None:
        """Take ``count`` tokens; returns None if allowed, else the seconds to wait."""
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens <= 0:
            return (1 - self.tokens) / self.rate
        # A batch larger than the bucket may overdraw it once; it then waits in proportion.
        self.tokens -= count
        return None


class RateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, source_id: str, rate: float | None, count: int) -> int | None:
        """None if allowed, else the whole seconds for a ``Retry-After`` header."""
        if rate is None or rate <= 0:
            return None
        bucket = self._buckets.get(source_id)
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[source_id] = TokenBucket(rate)
        wait = bucket.take(count)
        return None if wait is None else max(1, math.ceil(wait))
