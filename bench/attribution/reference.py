"""The reference: ChannelAttribution (the ``channelattribution`` package, C++ behind Cython),
given the same journeys as it takes them, a pandas DataFrame of path strings with
conversions, nulls and value."""

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from kenning.attribution.journeys import Journeys, Paths, Sequences


def available() -> str | None:
    """None when ChannelAttribution can be imported, else why not."""
    try:
        import ChannelAttribution  # noqa: F401
    except ImportError as error:
        return f"ChannelAttribution is not installed ({error}; pip install -e '.[bench]')"
    return None


def frame(data: Journeys | Paths) -> Any:
    """One row per journey (conversions 0 or 1, nulls the rest) or per path."""
    import pandas as pd

    names = np.array(data.names, dtype=object)
    touches = names[data.channels]
    paths = [
        " > ".join(touches[a:b]) for a, b in zip(data.offsets[:-1], data.offsets[1:], strict=True)
    ]
    nulls = data.nulls if isinstance(data, Paths) else (data.conversions == 0).astype(float)
    return pd.DataFrame(
        {
            "path": paths,
            "conversions": np.rint(data.conversions).astype(np.int64),
            "nulls": np.rint(nulls).astype(np.int64),
            "value": data.values,
        }
    )


@dataclass(frozen=True)
class Answer:
    seconds: float
    conversions: dict[str, float]
    values: dict[str, float]


def markov(table: Any, order: int, cores: int = 1) -> Answer:
    """``markov_model`` at its default settings (one core unless ``cores``, 100,000
    simulated walks to start, convergence 5%, seed 0), with nulls and value."""
    from ChannelAttribution import markov_model

    started = time.perf_counter()
    result = markov_model(
        table, "path", "conversions", var_value="value", var_null="nulls", order=order,
        ncore=cores, verbose=False, flg_pro=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    return Answer(
        seconds,
        dict(zip(result["channel_name"], result["total_conversions"], strict=True)),
        dict(zip(result["channel_name"], result["total_conversion_value"], strict=True)),
    )


def heuristics(table: Any) -> tuple[float, dict[str, dict[str, float]]]:
    """``heuristic_models`` (first, last and linear touch, computed together): its seconds
    and each model's conversions per channel."""
    from ChannelAttribution import heuristic_models

    started = time.perf_counter()
    result = heuristic_models(table, "path", "conversions", var_value="value", flg_pro=False)
    seconds = time.perf_counter() - started
    credits = {
        ours: dict(zip(result["channel_name"], result[f"{theirs}_conversions"], strict=True))
        for ours, theirs in (
            ("first_touch", "first_touch"),
            ("last_touch", "last_touch"),
            ("linear", "linear_touch"),
        )
    }
    return seconds, credits


def deviation(answer: dict[str, float], exact: Sequences, credited: Any) -> tuple[float, str]:
    """The largest per-channel deviation of ``answer`` from ``credited`` (an array indexed
    like ``exact.names``), relative to the exact figure, and the channel it is on."""
    worst, where = 0.0, ""
    for code, name in enumerate(exact.names):
        truth = float(credited[code])
        if truth <= 0:
            continue
        off = abs(answer.get(name, 0.0) - truth) / truth
        if off > worst:
            worst, where = off, name
    return worst, where
