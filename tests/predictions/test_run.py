"""``run_predictions`` on a real store: orders read per person, every model's scores written
onto profiles and replaced by the next run, the profile read, reports kept as model cards."""

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kenning.errors import FieldError
from kenning.ingest.pipeline import prepare_messages
from kenning.journeys.settings import JourneySettings
from kenning.predictions.run import run_predictions
from kenning.predictions.scores import latest_runs, person_scores
from kenning.predictions.settings import PredictionSettings
from kenning.profiles.read import find_profile, profile
from kenning.spec.limits import Limits
from kenning.store.store import Store

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
SETTINGS = PredictionSettings(holdout_days=60)
JOURNEYS = JourneySettings()


# Every buyer here lets themselves be profiled, unless a test says otherwise.
PROFILING = {"consent": {"categoryPreferences": {"personalisation": True}}}


def order(who: str, days_ago: float, revenue: float, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "userId": who, "event": "Order Completed",
            "timestamp": (AS_OF - timedelta(days=days_ago)).isoformat(),
            "properties": {"revenue": revenue}, "context": PROFILING, **extra}  # fmt: skip


def write(store: Store, messages: list[dict[str, Any]]) -> None:
    prepared = prepare_messages(
        messages, source_id="shop", received_at=AS_OF + timedelta(days=30), limits=Limits()
    )
    assert not prepared.rejections
    store.write_events(prepared.events).result()


@pytest.fixture
def store() -> Iterator[Store]:
    with tempfile.TemporaryDirectory() as directory, Store.open(Path(directory) / "k.db") as s:
        yield s


def customers() -> list[dict[str, Any]]:
    """A customer base of 182: 120 repeat buyers with orders every few weeks, 60 who bought once
    long ago, a new one, a lapsed one who came back; orders after the run are ignored."""
    messages = []
    for i in range(120):
        for k in range(1 + i % 6):
            messages.append(order(f"loyal{i}", 20 + 35 * k + i % 17, 20 + i % 40))
    for i in range(60):
        messages.append(order(f"once{i}", 200 + i, 15))
    messages += [order("newbie", 5, 99), order("back", 400, 30), order("back", 10, 30)]
    messages.append(order("newbie", -3, 1_000))  # after the run's time: not seen
    messages.append({"type": "page", "userId": "browser", "name": "Home",
                     "timestamp": (AS_OF - timedelta(days=1)).isoformat()})  # fmt: skip
    return messages


def scores_of(store: Store, who: str) -> dict[str, Any]:
    found = find_profile(store, f"user_id:{who}")
    assert found is not None
    with store.reader() as con:
        return {k: v["value"] for k, v in person_scores(con, [found]).items()}


def test_every_model_scores_every_customer(store: Store) -> None:
    write(store, customers())
    ran = run_predictions(store, SETTINGS, JOURNEYS, as_of=AS_OF)
    assert ran["customers"] == 182 and ran["as_of"] == AS_OF.isoformat()
    assert set(ran["models"]) == {"rfm", "clv", "lifecycle", "propensity", "next_channel"}
    # 182 customers: too few buy in the 30 days before the run to train on
    assert "at least 100 positive" in ran["models"]["propensity"]["skipped"]
    assert ran["models"]["rfm"]["scores_written"] == 182 * 5
    assert ran["models"]["lifecycle"]["scores_written"] == 182
    newbie, back, once = (
        scores_of(store, "newbie"),
        scores_of(store, "back"),
        scores_of(store, "once59"),
    )
    assert newbie["lifecycle_stage"] == "new" and back["lifecycle_stage"] == "reactivated"
    assert once["lifecycle_stage"] == "lapsed" and once["rfm_recency"] == 1
    # one order, the most recent; 99 spent is mid-table among repeat buyers
    assert (newbie["rfm_recency"], newbie["rfm_frequency"], newbie["rfm_monetary"]) == (5, 1, 3)
    assert newbie["rfm_score"] == "513" and newbie["rfm_segment"] == "Potential loyalists"
    best = scores_of(store, "loyal5")  # six orders, the last 25 days ago
    assert best["rfm_frequency"] == 5 and best["rfm_segment"] in {"Champions", "Loyal"}
    # lifetime value: the frequent recent buyer is worth more than the one-time buyer of long
    # ago, whom BG/NBD deems alive (no repeat purchase, so no chance yet to have left)
    assert best["clv"] > once["clv"] > 0 and once["p_alive"] == pytest.approx(1)
    assert 0 < best["p_alive"] <= 1
    assert best["expected_purchases"] > once["expected_purchases"]
    assert scores_of(store, "browser") == {}  # no order: no score
    clv = ran["models"]["clv"]
    assert [f["model"] for f in clv["fits"]] == ["bgnbd", "gammagamma"]
    assert clv["holdout"]["length"] == pytest.approx(60 / 7)
    assert clv["holdout"]["actual_purchases"] > 0


def test_nobody_who_refused_profiling_is_fitted_or_scored(store: Store) -> None:
    refused = {"consent": {"categoryPreferences": {"personalisation": False}}}
    messages = customers()
    # loyal0 to loyal9 refuse, in an event after their orders: their choice now counts
    messages += [
        {
            "type": "identify",
            "userId": f"loyal{i}",
            "context": refused,
            "timestamp": (AS_OF - timedelta(days=1)).isoformat(),
        }
        for i in range(10)
    ]
    # a buyer who never said: undecided is no
    messages.append({**order("silent", 30, 50), "context": {}})
    write(store, messages)
    ran = run_predictions(store, SETTINGS, JOURNEYS, as_of=AS_OF)
    assert ran["customers"] == 182 - 10 and ran["profiled"] == 182 - 10
    assert ran["models"]["rfm"]["scores_written"] == (182 - 10) * 5
    assert all(scores_of(store, f"loyal{i}") == {} for i in range(10))
    assert scores_of(store, "silent") == {}
    assert scores_of(store, "loyal10") != {}
    # a change of mind counts at the next run
    write(store, [{"type": "identify", "userId": "loyal3", "timestamp": AS_OF.isoformat(),
                   "context": PROFILING}])  # fmt: skip
    run_predictions(store, SETTINGS, JOURNEYS, models=["rfm"], as_of=AS_OF)
    assert scores_of(store, "loyal3")["rfm_score"]


def test_a_rerun_replaces_and_the_profile_shows_when(store: Store) -> None:
    write(store, customers())
    run_predictions(store, SETTINGS, JOURNEYS, as_of=AS_OF)
    run_predictions(store, SETTINGS, JOURNEYS, models=["lifecycle"], as_of=AS_OF + timedelta(
        days=100))  # fmt: skip
    with store.reader() as con:
        counts = dict(con.execute("SELECT model, count(*) FROM __kenning_predictions "
                                  "GROUP BY model").fetchall())  # fmt: skip
        runs = {r["model"]: r for r in latest_runs(con)}
    assert counts == {"rfm": 182 * 5, "clv": 182 * 4, "lifecycle": 182}
    assert runs["lifecycle"]["report"]["as_of"] == (AS_OF + timedelta(days=100)).isoformat()
    assert runs["lifecycle"]["computed_at"] > runs["rfm"]["computed_at"]
    found = find_profile(store, "user_id:newbie")
    assert found is not None
    shown = profile(store, found)["predictions"]
    assert shown["lifecycle_stage"]["value"] == "at_risk"  # 105 days after the last order
    assert shown["lifecycle_stage"]["model"] == "lifecycle"
    assert shown["rfm_segment"]["model"] == "rfm"
    assert datetime.fromisoformat(shown["clv"]["computed_at"]) <= datetime.now(UTC)


def test_a_merge_after_the_run_combines_scores(store: Store) -> None:
    write(store, [order("a", 10, 50), {**order("x", 400, 10), "userId": None,
                                       "anonymousId": "anon-x"}])  # fmt: skip
    run_predictions(store, SETTINGS, JOURNEYS, models=["lifecycle"], as_of=AS_OF)
    # the anonymous buyer of long ago turns out to be "a": one person
    write(store, [{"type": "alias", "userId": "a", "previousId": "anon-x",
                   "timestamp": AS_OF.isoformat()}])  # fmt: skip
    # one run scored both profiles: the surviving one's (the older, "a") wins the tie
    assert scores_of(store, "a") == {"lifecycle_stage": "new"}
    ran = run_predictions(store, SETTINGS, JOURNEYS, models=["lifecycle"], as_of=AS_OF)
    assert ran["customers"] == 1 and scores_of(store, "a") == {"lifecycle_stage": "reactivated"}


def test_no_orders_skips_and_bad_models_are_named(store: Store) -> None:
    write(store, [{"type": "page", "userId": "u", "timestamp": AS_OF.isoformat()}])
    ran = run_predictions(store, SETTINGS, JOURNEYS)
    skipped = {name for name, r in ran["models"].items() if "skipped" in r}
    assert skipped == {"rfm", "clv", "lifecycle", "propensity"}  # next_channel needs none
    assert ran["models"]["rfm"]["skipped"] == "no 'Order Completed' event yet"
    with pytest.raises(FieldError) as error:
        run_predictions(store, SETTINGS, JOURNEYS, models=["magic"])
    assert error.value.field == "models"
