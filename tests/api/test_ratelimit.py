"""Rate limits: a bucket's burst and refill, and the per-token buckets."""

import hashlib

from kenning.api.ratelimit import RateLimiter, TokenBucket, TokenRateLimiter


def test_a_bucket_allows_its_burst_then_asks_to_wait() -> None:
    bucket = TokenBucket(rate=0.001, burst=3)  # a refill too slow to matter here
    assert [bucket.take(1) for _ in range(3)] == [None, None, None]
    wait = bucket.take(1)
    assert wait is not None and wait > 0


def test_without_a_burst_a_bucket_holds_one_second() -> None:
    assert TokenBucket(rate=5).tokens == 5
    assert TokenBucket(rate=5, burst=20).tokens == 20


def test_each_token_has_its_own_bucket_keyed_by_its_hash() -> None:
    limiter = TokenRateLimiter(rate=0.001, burst=2, max_buckets=10)
    assert [limiter.check("alpha") for _ in range(2)] == [None, None]
    retry = limiter.check("alpha")
    assert retry is not None and retry >= 1
    assert limiter.check("beta") is None
    assert limiter.keys() == [hashlib.sha256(t.encode()).digest() for t in ("alpha", "beta")]
    assert not any(b"alpha" in key or b"beta" in key for key in limiter.keys())  # noqa: SIM118


def test_the_least_recently_used_bucket_is_dropped_first() -> None:
    limiter = TokenRateLimiter(rate=0.001, burst=1, max_buckets=2)
    limiter.check("a")
    limiter.check("b")
    limiter.check("a")  # a is used again: b is now the oldest
    limiter.check("c")
    assert limiter.keys() == [hashlib.sha256(t.encode()).digest() for t in ("a", "c")]
    assert limiter.check("a") is not None  # a's bucket was kept, and is empty


def test_admitting_takes_one_token_charging_the_rest_and_a_refusal_gives_it_back() -> None:
    limiter = RateLimiter()
    rate = 2.0  # the bucket holds two tokens; the refill is too slow to matter here
    assert limiter.admit("s", rate) is None
    assert limiter.admit("s", rate) is None
    # two requests admitted together hold both tokens: a third waits, before any is counted
    assert limiter.admit("s", rate) is not None
    limiter.charge("s", rate, 0)  # one was refused unread: its token comes back
    assert limiter.admit("s", rate) is None
    limiter.charge("s", rate, 50)  # a batch overdraws the bucket once
    assert limiter.admit("s", rate) is not None
    assert limiter.check("s", rate, 1) is not None
    # a source without a rate is always admitted, whatever it is charged
    limiter.charge("free", None, 10**6)
    assert limiter.admit("free", None) is None
