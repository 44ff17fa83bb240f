"""Synthetic touch and conversion rows with planted channel effects, seeded.

Each person has 1 + a geometric number of touches (mean 3.5), their channels drawn by
popularity, a few hours to days apart, over a year. A person converts, just after their
last touch, with probability ``1 - prod(1 - effect[c])`` over the distinct channels they
touched, so each channel's true effect is known; a conversion's value is log-normal. One
person gives one journey under a 30-day lookback unless their touches spread wider (then the
oldest fall out of it).
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

Ints = np.ndarray[Any, np.dtype[np.int64]]
Floats = np.ndarray[Any, np.dtype[np.float64]]

DAY_US = 86_400_000_000
YEAR_US = 365 * DAY_US


@dataclass(frozen=True)
class Rows:
    touch_profile: Ints
    touch_time: Ints
    touch_channel: Ints
    conversion_profile: Ints
    conversion_time: Ints
    conversion_value: Floats
    names: tuple[str, ...]
    effects: Floats


def channel_names(count: int) -> tuple[str, ...]:
    base = (
        "paid_search", "organic_search", "social", "email", "display",
        "affiliate", "referral", "video", "sms", "direct",
    )  # fmt: skip
    return tuple(base[i] if i < len(base) else f"partner_{i - len(base) + 1}" for i in range(count))


def synthetic_rows(people: int, channels: int, *, seed: int = 7) -> Rows:
    rng = np.random.default_rng(seed)
    names = channel_names(channels)
    popularity = rng.dirichlet(np.full(channels, 2.0))
    effects = rng.uniform(0.005, 0.05, channels)
    lengths = 1 + rng.geometric(0.4, people) - 1 + rng.geometric(0.5, people) - 1
    total = int(lengths.sum())
    profile = np.repeat(np.arange(people, dtype=np.int64), lengths)
    channel = rng.choice(channels, size=total, p=popularity).astype(np.int64)
    gaps = rng.exponential(2 * DAY_US, total).astype(np.int64) + 60_000_000
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    cumulative = np.cumsum(gaps)
    within = cumulative - np.repeat(cumulative[starts] - gaps[starts], lengths)
    begin = rng.integers(0, YEAR_US, people)
    time = np.repeat(begin, lengths) + within
    bits = np.bitwise_or.reduceat(np.left_shift(np.int64(1), channel), starts)
    log_keep = np.zeros(people)
    for c in range(channels):
        log_keep += ((bits >> c) & 1) * np.log1p(-effects[c])
    converts = rng.random(people) < 1 - np.exp(log_keep)
    last_time = time[starts + lengths - 1]
    who = np.flatnonzero(converts)
    return Rows(
        touch_profile=profile,
        touch_time=time,
        touch_channel=channel,
        conversion_profile=who.astype(np.int64),
        conversion_time=last_time[who] + rng.integers(1_000_000, 3_600_000_000, len(who)),
        conversion_value=np.round(rng.lognormal(3.5, 0.8, len(who)), 2),
        names=names,
        effects=effects,
    )
