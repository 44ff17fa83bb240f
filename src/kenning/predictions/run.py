"""``kenning predict run``: every model refitted on the event log and everyone scored, the
scores written onto profiles in one transaction per model.

The orders (``PredictionSettings.order_event``, valued by its first numeric value path) are
read once, per person (profiles merged count as one). Each model turns the run into scores
and a report (its fit, diagnostics and what it scored: the model card kept with the run):

- ``rfm``: rfm_recency, rfm_frequency, rfm_monetary (1 to 5), rfm_score ("545"),
  rfm_segment;
- ``clv``: p_alive, expected_purchases (over the horizon), expected_order_value, clv
  (discounted), from BG/NBD or Pareto/NBD and Gamma-Gamma; its fit is checked first on a
  holdout (the last ``holdout_days``), then refitted on everything to score;
- ``lifecycle``: lifecycle_stage;
- ``propensity``: purchase_ and churn_ propensity, percentile and cohort (``scoring.py``);
- ``next_channel``: next_best_channel and response_rate_<channel> (``next_channel.py``).

Only people who grant the profiling consent category (``privacy.consent.profiling``) are
profiled: the others' orders and features are left out of every fit, and no score is written
for them (``privacy/profiling.py``).
"""

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from kenning.errors import FieldError
from kenning.journeys.touch_arrays import read_conversions
from kenning.predictions.context import Model, Orders, Run, Scored, default_as_of
from kenning.predictions.customers import clv_model, lifecycle_model, rfm_model
from kenning.predictions.next_channel import next_channel_model
from kenning.predictions.scores import only_profiled, replace_scores
from kenning.predictions.scoring import propensity_model
from kenning.predictions.settings import PredictionSettings
from kenning.privacy.consent import ConsentSettings
from kenning.privacy.profiling import profiled_people

if TYPE_CHECKING:
    from kenning.journeys.settings import JourneySettings
    from kenning.store.store import Store

MODELS: dict[str, Model] = {
    "rfm": rfm_model,
    "clv": clv_model,
    "lifecycle": lifecycle_model,
    "propensity": propensity_model,
    "next_channel": next_channel_model,
}
NEED_ORDERS = frozenset({"rfm", "clv", "lifecycle", "propensity"})


def run_predictions(
    store: "Store",
    settings: PredictionSettings,
    journeys: "JourneySettings",
    *,
    models: Sequence[str] | None = None,
    as_of: datetime | None = None,
    consent: ConsentSettings | None = None,
) -> dict[str, Any]:
    """Refit ``models`` (default: every one) on the orders up to ``as_of``, write their
    scores and reports; returns the reports by model (``as_of`` by default:
    ``context.default_as_of``)."""
    chosen = list(models or MODELS)
    for name in chosen:
        if name not in MODELS:
            raise FieldError(f"the models are {', '.join(MODELS)}, not {name!r}", "models")
    started = time.perf_counter()
    with store.reader() as con:
        as_of = default_as_of(con) if as_of is None else as_of.astimezone(UTC)
        found = read_conversions(
            con, settings.orders(), journeys.touches(until=as_of + timedelta(microseconds=1))
        )
        profiled = profiled_people(con, (consent or ConsentSettings()).profiling)
    orders = Orders.of(found.of_people(profiled), as_of)
    run = Run(store, settings, journeys, as_of, orders, profiled)
    reports: dict[str, Any] = {}
    results: dict[str, Scored] = {}
    for name in chosen:
        if not len(orders.people) and name in NEED_ORDERS:
            reports[name] = {"skipped": f"no {settings.order_event!r} event yet"}
            continue
        began = time.perf_counter()
        try:
            results[name] = MODELS[name](run)
        except FieldError as error:  # too little data to fit, say: reported, not raised
            reports[name] = {"skipped": str(error)}
            continue
        reports[name] = {
            **results[name].report,
            "as_of": as_of.isoformat(),
            "seconds": round(time.perf_counter() - began, 3),
        }

    def write(con: Any) -> dict[str, int]:
        return {
            name: replace_scores(
                con, name, only_profiled(scored.rows, profiled), computed_at, reports[name]
            )
            for name, scored in results.items()
        }

    computed_at = datetime.now(UTC)
    written = store.writer.run(write).result() if results else {}
    for name, rows in written.items():
        reports[name]["scores_written"] = rows
    return {
        "computed_at": computed_at.isoformat(),
        "as_of": as_of.isoformat(),
        "orders": len(orders.time_us),
        "customers": len(orders.people),
        "profiled": len(profiled),
        "seconds": round(time.perf_counter() - started, 3),
        "models": reports,
    }
