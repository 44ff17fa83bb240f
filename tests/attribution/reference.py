"""Plain-Python references and random data for the attribution tests: one journey at a time,
lists and dicts, written from the definitions in docs/attribution.md and sharing no code with
kenning.attribution."""

import math
import random
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

from kenning.attribution.journeys import Journeys, Paths


@dataclass
class Journey:
    channels: list[int]
    conversions: float
    value: float
    ages: list[float] = field(default_factory=list)


def to_journeys(journeys: list[Journey], names: tuple[str, ...]) -> Journeys:
    lengths = [len(j.channels) for j in journeys]
    return Journeys(
        offsets=np.array([0, *np.cumsum(lengths)], dtype=np.int64),
        channels=np.array([c for j in journeys for c in j.channels], dtype=np.int16),
        conversions=np.array([j.conversions for j in journeys], dtype=np.float64),
        values=np.array([j.value for j in journeys], dtype=np.float64),
        names=names,
        ages=np.array([a for j in journeys for a in j.ages], dtype=np.float64),
    )


def to_paths(rows: list[tuple[list[int], float, float, float]], names: tuple[str, ...]) -> Paths:
    """Paths from rows of (channels, conversions, nulls, value)."""
    lengths = [len(r[0]) for r in rows]
    return Paths(
        offsets=np.array([0, *np.cumsum(lengths)], dtype=np.int64),
        channels=np.array([c for r in rows for c in r[0]], dtype=np.int16),
        conversions=np.array([r[1] for r in rows], dtype=np.float64),
        nulls=np.array([r[2] for r in rows], dtype=np.float64),
        values=np.array([r[3] for r in rows], dtype=np.float64),
        names=names,
    )


def names_for(count: int) -> tuple[str, ...]:
    return tuple(f"c{i}" for i in range(count))


@st.composite
def journey_lists(draw: st.DrawFn, max_channels: int = 6, max_length: int = 7) -> tuple[
    list[Journey], tuple[str, ...]
]:  # fmt: skip
    channels = draw(st.integers(1, max_channels))
    journeys = draw(
        st.lists(
            st.builds(
                lambda cs, conv, value, ages: Journey(cs, conv, value, ages[: len(cs)]),
                st.lists(st.integers(0, channels - 1), min_size=1, max_size=max_length),
                st.sampled_from([0.0, 1.0, 1.0, 2.0, 0.5]),
                st.floats(0, 500, allow_nan=False),
                st.lists(
                    st.floats(0, 90 * 86_400, allow_nan=False),
                    min_size=max_length,
                    max_size=max_length,
                ),
            ),
            min_size=1,
            max_size=25,
        )
    )
    return journeys, names_for(channels)


def random_journeys(
    rng: random.Random, count: int, channels: int, max_length: int = 6
) -> list[Journey]:
    journeys = []
    for _ in range(count):
        length = rng.randint(1, max_length)
        path = [rng.randrange(channels) for _ in range(length)]
        converted = rng.random() < 0.2 + 0.1 * len(set(path)) / channels
        journeys.append(
            Journey(
                path,
                1.0 if converted else 0.0,
                round(rng.uniform(5, 200), 2) if converted else 0.0,
                [rng.uniform(0, 30 * 86_400) for _ in path],
            )
        )
    return journeys


# -- the heuristics, one journey at a time -------------------------------------------------


def heuristic_reference(
    model: str, journeys: list[Journey], names: tuple[str, ...], half_life_days: float = 7.0
) -> dict[str, tuple[float, float]]:
    credit = {name: [0.0, 0.0] for name in names}
    for journey in journeys:
        shares = _shares(model, journey, names, half_life_days)
        for channel, share in zip(journey.channels, shares, strict=True):
            credit[names[channel]][0] += share * journey.conversions
            credit[names[channel]][1] += share * journey.value
    return {name: (c, v) for name, (c, v) in credit.items()}


def _shares(model: str, journey: Journey, names: tuple[str, ...], half_life: float) -> list[float]:
    n = len(journey.channels)
    shares = [0.0] * n
    if model == "first_touch":
        shares[0] = 1.0
    elif model == "last_touch":
        shares[-1] = 1.0
    elif model == "last_non_direct":
        chosen = n - 1
        for i in reversed(range(n)):
            if names[journey.channels[i]] != "direct":
                chosen = i
                break
        shares[chosen] = 1.0
    elif model == "linear":
        shares = [1.0 / n] * n
    elif model == "position_based":
        if n == 1:
            shares = [1.0]
        elif n == 2:
            shares = [0.5, 0.5]
        else:
            shares = [0.4] + [0.2 / (n - 2)] * (n - 2) + [0.4]
    elif model == "time_decay":
        weights = [2.0 ** (-age / (half_life * 86_400)) for age in journey.ages]
        shares = [w / sum(weights) for w in weights]
    else:
        raise AssertionError(model)
    return shares


# -- the Markov chain, with dicts and a dense solve -------------------------------------------


def chain_reference(
    rows: list[tuple[list[int], float, float, float]], order: int, first_states: str = "prefixes"
) -> tuple[dict[object, dict[object, float]], dict[object, float]]:
    """Transition counts ``{from: {to: count}}`` with ``"start"``, ``"conv"``, ``"null"``,
    states as tuples of channels; and the value converted from each state."""
    counts: dict[object, dict[object, float]] = {}
    value_from: dict[object, float] = {}
    for channels, conversions, nulls, value in rows:
        traffic = conversions + nulls
        if traffic == 0:
            continue
        states: list[tuple[int, ...]] = []
        for i in range(len(channels)):
            first = 0 if first_states == "prefixes" else min(order - 1, len(channels) - 1)
            if i >= first:
                states.append(tuple(channels[max(0, i - order + 1) : i + 1]))
        previous: object = "start"
        for state in states:
            counts.setdefault(previous, {}).setdefault(state, 0.0)
            counts[previous][state] += traffic
            previous = state
        row = counts.setdefault(previous, {})
        row["conv"] = row.get("conv", 0.0) + conversions
        row["null"] = row.get("null", 0.0) + nulls
        value_from[previous] = value_from.get(previous, 0.0) + value
    return counts, value_from


def dense_absorption(
    counts: dict[object, dict[object, float]],
    value_from: dict[object, float],
    removed_channel: int | None = None,
) -> tuple[float, float]:
    """P(conversion) and expected value from start, by numpy.linalg.solve on the dense
    system, with states holding ``removed_channel`` dropped (their in-flow lost)."""

    def holds(state: object) -> bool:
        return isinstance(state, tuple) and removed_channel in state

    transient = [s for s in counts if not holds(s)]
    index = {s: i for i, s in enumerate(transient)}
    n = len(transient)
    a = np.eye(n)
    b = np.zeros((n, 2))
    for s, row in counts.items():
        if holds(s):
            continue
        out = sum(row.values())
        for t, count in row.items():
            if t == "conv":
                b[index[s], 0] += count / out
            elif t != "null" and not holds(t):
                a[index[s], index[t]] -= count / out
        b[index[s], 1] += value_from.get(s, 0.0) / out
    x = np.linalg.solve(a, b)
    return float(x[index["start"], 0]), float(x[index["start"], 1])


def simulate_removal_effects(
    counts: dict[object, dict[object, float]], channels: int, walks: int, seed: int
) -> list[float]:
    """Removal effects estimated as ChannelAttribution does: random walks from start; a
    channel's effect is the share of converting walks that visited a state holding it."""
    rng = np.random.default_rng(seed)
    table = {
        s: (list(row), np.cumsum(list(row.values())) / sum(row.values()))
        for s, row in counts.items()
    }
    converted = 0
    visited_in_converted = [0] * channels
    for _ in range(walks):
        state: object = "start"
        seen: set[int] = set()
        while state not in ("conv", "null"):
            targets, cumulative = table[state]
            state = targets[min(int(np.searchsorted(cumulative, rng.random())), len(targets) - 1)]
            if isinstance(state, tuple):
                seen.update(state)
        if state == "conv":
            converted += 1
            for c in seen:
                visited_in_converted[c] += 1
    return [v / converted for v in visited_in_converted]


# -- Shapley by the definition ----------------------------------------------------------------


def shapley_by_enumeration(journeys: list[Journey], channels: int) -> list[tuple[float, float]]:
    """phi(c) = sum over coalitions S without c of |S|! (n - |S| - 1)! / n! times
    (v(S + c) - v(S)), with v(S) the conversions (value) of journeys whose channels all lie in
    S: every one of the 2^n coalitions."""
    sets = [(frozenset(j.channels), j.conversions, j.value) for j in journeys]

    def worth(coalition: int) -> tuple[float, float]:
        members = {c for c in range(channels) if coalition >> c & 1}
        conv = sum(c for s, c, _ in sets if s <= members)
        value = sum(v for s, _, v in sets if s <= members)
        return conv, value

    worths = [worth(s) for s in range(1 << channels)]
    n = channels
    phi = []
    for c in range(n):
        conv = value = 0.0
        for coalition in range(1 << n):
            if coalition >> c & 1:
                continue
            size = bin(coalition).count("1")
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            with_c = worths[coalition | 1 << c]
            without = worths[coalition]
            conv += weight * (with_c[0] - without[0])
            value += weight * (with_c[1] - without[1])
        phi.append((conv, value))
    return phi
