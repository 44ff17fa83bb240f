"""``kenning predict lookalike``: a lookalike audience made from a seed audience on a store:
everyone's features read, the rankers judged on a held-out fifth of the seed, everyone who is
not in the seed scored (``lookalike_<name>``, a percentile among them), and the audience
declared over that score. See ``lookalike.py`` for the method."""

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from kenning.audiences.audience import Audience, parse_audience
from kenning.audiences.conditions import ConditionError
from kenning.errors import FieldError
from kenning.journeys.touch_arrays import read_conversions
from kenning.predictions.context import default_as_of
from kenning.predictions.features import counted_events, read_features
from kenning.predictions.lookalike import LookalikeOptions, check_seed, evaluate, rank
from kenning.predictions.propensity import percentiles
from kenning.predictions.scores import replace_scores, score_table
from kenning.privacy.profiling import profiled_people

if TYPE_CHECKING:
    from kenning.settings import Settings
    from kenning.store.store import Store


def make_lookalike(
    store: "Store", settings: "Settings", options: LookalikeOptions
) -> dict[str, Any]:
    """Score everyone against the seed, declare the audience, evaluate it; the report."""
    started = time.perf_counter()
    try:
        audience = _audience(options)  # a bad name is refused before any work
    except ConditionError as error:
        raise FieldError(str(error), error.field) from None
    if not any(a.name == options.seed for a in store.audiences.audiences):
        raise FieldError(f"no audience is named {options.seed!r}", "seed")
    with store.reader() as con:
        members = {
            int(p) for (p,) in con.execute(
                "SELECT profile_id FROM __kenning_audience_members WHERE audience = ?",
                [options.seed],
            ).fetchall()
        }  # fmt: skip
        as_of = default_as_of(con)
        events = counted_events(con, as_of)
        orders = read_conversions(
            con, settings.predictions.orders(),
            settings.journeys.touches(until=as_of + timedelta(microseconds=1)),
        )  # fmt: skip
        # Neither seeds nor candidates may be people who refused profiling.
        profiled = profiled_people(con, settings.privacy.consent.profiling)
        features = read_features(con, settings.journeys, as_of, events, orders, profiled=profiled)
    is_seed = np.isin(features.people, np.array(sorted(members), dtype=np.int64))
    seed_rows = np.flatnonzero(is_seed)
    check_seed(seed_rows, options.seed)
    report: dict[str, Any] = {
        "seed": options.seed, "seed_size": len(members), "method": options.method,
        "top_percent": options.top_percent, "as_of": as_of.isoformat(),
        "evaluation": evaluate(features.matrix, seed_rows, options.method),
    }  # fmt: skip
    score = rank(features.matrix, is_seed, options.method)
    candidates = np.flatnonzero(~is_seed)
    percentile = percentiles(score[candidates])
    rows = score_table(pa.array(features.people[candidates]),
                       {options.score_name: pa.array(percentile)})  # fmt: skip
    model = f"lookalike:{options.name}"
    computed_at = datetime.now(UTC)

    def write(con: Any) -> None:
        replace_scores(con, model, rows, computed_at, report)
        store.audiences.declare(con, audience)

    store.writer.run(write, changes_stages=True).result()
    store.evaluate_audiences_now()
    with store.reader() as con:
        described = next(a for a in store.audiences.describe(con) if a["name"] == options.name)
    report["audience"] = described
    report["candidates"] = len(candidates)
    report["seconds"] = round(time.perf_counter() - started, 3)
    return report


def _audience(options: LookalikeOptions) -> Audience:
    return parse_audience({
        "description": f"people like {options.seed} (top {options.top_percent:g}%, "
                       f"{options.method})",
        "condition": options.condition(),
    }, options.name)  # fmt: skip


LOOKALIKE_KEYS = frozenset({"seed", "name", "top_percent", "method"})


def lookalike_from_request(
    store: "Store", settings: "Settings", request: Mapping[str, Any]
) -> dict[str, Any]:
    """``make_lookalike`` from a JSON request, refused with the field's path."""
    unknown = sorted(set(request) - LOOKALIKE_KEYS)
    if unknown:
        raise FieldError("not a setting of a lookalike", unknown[0])
    for key in ("seed", "name"):
        if not isinstance(request.get(key), str) or not request[key]:
            raise FieldError("an audience's name", key)
    top = request.get("top_percent", 5.0)
    if isinstance(top, bool) or not isinstance(top, int | float):
        raise FieldError("a percentage", "top_percent")
    method = request.get("method", "both")
    if not isinstance(method, str):
        raise FieldError("classifier, knn or both", "method")
    options = LookalikeOptions(request["seed"], request["name"], float(top), method)
    return make_lookalike(store, settings, options)
