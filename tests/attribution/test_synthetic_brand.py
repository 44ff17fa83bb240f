"""The synthetic brand's planted channel effects (``demo.behaviour.CHANNEL_EFFECTS``: how much
more often a converting path than a browsing one draws each channel) recovered by the
data-driven models, read from a store the brand was loaded into through the API.

Credit per touch (a channel's credited conversions over its touches, both from the data)
should rise with the planted multiplier. Close multipliers (1.1, 1.0, 1.0, 0.9) cannot be told
apart by a brand of this size; the strong ones must: every channel planted at 1.2 or more
ranks above every one planted at 0.7 or less, and the ranks agree overall."""

from collections.abc import Iterator
from typing import Any

import pytest
from scipy.stats import spearmanr

from kenning.attribution.analysis import attribution
from kenning.demo.behaviour import CHANNEL_EFFECTS
from kenning.journeys.settings import JourneySettings
from kenning.journeys.touch_arrays import read_touches
from kenning.store.store import Store
from tests.brand import load_brand

PEOPLE, SEED = 800, 11


@pytest.fixture(scope="module")
def brand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder = tmp_path_factory.mktemp("brand")
    with Store.open(load_brand(folder, PEOPLE, SEED)) as store:
        yield store


def per_touch(store: Store, answer: dict[str, Any], model: str) -> dict[str, float]:
    with store.reader() as con:
        touches = read_touches(con, JourneySettings().touches(), exclude=("Order Completed",))
    counts = {name: int((touches.label == i).sum()) for i, name in enumerate(touches.names)}
    credited = {c["channel"]: c["conversions"] for c in answer["models"][model]["channels"]}
    return {c: credited[c] / counts[c] for c in CHANNEL_EFFECTS if counts.get(c)}


@pytest.mark.parametrize("model", ["markov", "shapley"])
def test_data_driven_models_recover_the_planted_channel_effects(brand: Store, model: str) -> None:
    # online orders: a store purchase has no web path before it
    question = {"conversion": "Order Completed", "models": [model],
                "where": {"properties.channel": {"ne": "store"}}}  # fmt: skip
    answer = attribution(brand, question, JourneySettings())
    assert answer["total_conversions"] > 500
    found = per_touch(brand, answer, model)
    assert set(found) == set(CHANNEL_EFFECTS)
    planted = {c: effect for c, (_, effect) in CHANNEL_EFFECTS.items()}
    strong = [c for c in planted if planted[c] >= 1.2]
    weak = [c for c in planted if planted[c] <= 0.7]
    assert min(found[c] for c in strong) > max(found[c] for c in weak), found
    channels = list(planted)
    agreement = spearmanr([planted[c] for c in channels], [found[c] for c in channels])
    assert agreement.statistic >= 0.7, (agreement, found)
