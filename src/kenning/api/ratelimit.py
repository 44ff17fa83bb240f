"""Rate limits as token buckets: optional per source (collection), and per bearer token."""

import hashlib
import math
import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    rate: float
    # The most that may be taken at once after a quiet spell; one second of ``rate`` if None.
    burst: float | None = None
    tokens: float = field(init=False)
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    @property
    def capacity(self) -> float:
        return self.rate if self.burst is None else self.burst

    def take(self, count: int) -> float | None:
        """Take ``count`` tokens; returns None if allowed, else the seconds to wait."""
        wait = self.wait()
        if wait is None:
            self.spend(count)
        return wait

    def wait(self) -> float | None:
        """None if a request may go ahead now, else the seconds until one may; takes nothing."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        # One whole token (or a bucket smaller than one, full), so a burst is exact.
        needed = min(1.0, self.capacity)
        return (needed - self.tokens) / self.rate if self.tokens < needed else None

    def spend(self, count: int) -> None:
        # A batch larger than the bucket may overdraw it once; it then waits in proportion.
        self.tokens -= count


def retry_after(wait: float) -> int:
    """Whole seconds for a ``Retry-After`` header (at least 1: 0 would invite a retry now)."""
    return max(1, math.ceil(wait))


class RateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, source_id: str, rate: float | None, count: int) -> int | None:
        """None if allowed (and ``count`` events taken), else the whole seconds for a
        ``Retry-After`` header."""
        bucket = self._bucket(source_id, rate)
        wait = None if bucket is None else bucket.take(count)
        return None if wait is None else retry_after(wait)

    def admit(self, source_id: str, rate: float | None) -> int | None:
        """``check`` before the events are counted: None if the source may send now (one
        event's token is taken), else the whole seconds for ``Retry-After``. ``charge`` then
        takes the rest. Each request admitted takes a token at once, so no more requests are
        admitted together than the bucket holds tokens, and each of them may overdraw it once,
        as one request may."""
        bucket = self._bucket(source_id, rate)
        wait = None if bucket is None else bucket.wait()
        if wait is not None:
            return retry_after(wait)
        if bucket is not None:
            bucket.spend(1)
        return None

    def charge(self, source_id: str, rate: float | None, count: int) -> None:
        """Take the tokens of an admitted request's ``count`` events beyond the one ``admit``
        took (``count`` 0 gives that one back: a request refused unread stores nothing)."""
        bucket = self._bucket(source_id, rate)
        if bucket is not None:
            bucket.spend(count - 1)

    def _bucket(self, source_id: str, rate: float | None) -> TokenBucket | None:
        if rate is None or rate <= 0:
            return None
        bucket = self._buckets.get(source_id)
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[source_id] = TokenBucket(rate)
        return bucket


class TokenRateLimiter:
    """One bucket per bearer token, each refilled at ``rate`` requests a second up to ``burst``.

    Buckets are keyed by a hash of the token, so the server's memory never holds the secret
    itself; at most ``max_buckets`` are kept, the least recently used dropped first (a dropped
    bucket starts full again, which only forgives).
    """

    def __init__(self, rate: float, burst: float, max_buckets: int) -> None:
        self.rate = rate
        self.burst = burst
        self.max_buckets = max_buckets
        self._buckets: dict[bytes, TokenBucket] = {}

    def check(self, token: str) -> int | None:
        """None if this request of ``token`` is allowed, else the seconds for ``Retry-After``."""
        key = hashlib.sha256(token.encode()).digest()
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst)
            if len(self._buckets) >= self.max_buckets:
                del self._buckets[next(iter(self._buckets))]
        self._buckets[key] = bucket  # re-inserted last: dicts keep insertion order
        wait = bucket.take(1)
        return None if wait is None else retry_after(wait)

    def keys(self) -> list[bytes]:
        """The buckets' keys (hashes), least recently used first."""
        return list(self._buckets)
