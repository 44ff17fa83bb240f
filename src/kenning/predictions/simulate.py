"""Customer bases drawn from the models' own assumptions, for checking that a fit recovers the
parameters it was drawn with (tests) and for timing fits at scale (``bench/predict``).

Each draw is exact, not stepped through time: under BG/NBD a customer's repeat purchases up to
T are a Poisson count cut short at a geometric dropout; under Pareto/NBD a Poisson count over
the shorter of T and an exponential lifetime. Given the count, the last purchase time is an
order statistic of uniform times.
"""

from typing import Any

import numpy as np

from kenning.predictions.histories import Floats

Generator = np.random.Generator


def bgnbd_customers(
    r: float, alpha: float, a: float, b: float, age: Floats, rng: Generator
) -> tuple[Floats, Floats]:
    """Frequency and recency of customers of the given ages (T) under BG/NBD."""
    n = len(age)
    rate = rng.gamma(r, 1 / alpha, n)
    dropout = rng.beta(a, b, n)
    arrivals = rng.poisson(rate * age)
    # the repeat purchase after which the customer leaves: 1, 2, … (geometric)
    last = rng.geometric(dropout)
    frequency = np.minimum(arrivals, last)
    return frequency.astype(np.float64), _last_purchase(frequency, arrivals, age, rng)


def paretonbd_customers(
    r: float, alpha: float, s: float, beta: float, age: Floats, rng: Generator
) -> tuple[Floats, Floats]:
    """Frequency and recency of customers of the given ages (T) under Pareto/NBD."""
    n = len(age)
    rate = rng.gamma(r, 1 / alpha, n)
    death = rng.gamma(s, 1 / beta, n)
    active = np.minimum(rng.exponential(1 / death), age)
    frequency = rng.poisson(rate * active)
    return frequency.astype(np.float64), _last_purchase(frequency, frequency, active, rng)


def spends(p: float, q: float, gamma: float, frequency: Floats, rng: Generator) -> Floats:
    """Mean repeat spend under Gamma-Gamma for customers with these frequencies (0 where the
    frequency is 0): the mean of x gamma(p, ν) values is gamma(px, xν)."""
    nu = rng.gamma(q, 1 / gamma, len(frequency))
    repeat = frequency > 0
    mean = np.zeros(len(frequency))
    mean[repeat] = rng.gamma(p * frequency[repeat], 1 / (frequency[repeat] * nu[repeat]))
    return mean


def _last_purchase(
    frequency: np.ndarray[Any, Any], arrivals: np.ndarray[Any, Any], span: Floats, rng: Generator
) -> Floats:
    """The time of the frequency-th of ``arrivals`` uniform times in [0, span]: span times a
    Beta(k, n − k + 1) order statistic."""
    recency = np.zeros(len(frequency))
    bought = frequency > 0
    k = frequency[bought]
    recency[bought] = span[bought] * rng.beta(k, arrivals[bought] - k + 1)
    return recency
