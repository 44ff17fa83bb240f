import numpy as np
import pytest
from hypothesis import given, settings

from kenning.attribution import MODELS, Credit, attribute, register_model
from kenning.attribution.journeys import Sequences, paths_from_lists
from kenning.attribution.models import Model
from kenning.errors import FieldError
from tests.attribution.reference import Journey, journey_lists, to_journeys


@settings(max_examples=50, deadline=None)
@given(data=journey_lists())
def test_every_model_credits_exactly_the_total_conversions_and_value(
    data: tuple[list[Journey], tuple[str, ...]],
) -> None:
    journeys = to_journeys(*data)
    for order in (1, 3):
        credits = attribute(journeys, order=order)
        assert set(credits) == set(MODELS)
        for credit in credits.values():
            assert credit.conversions.sum() == pytest.approx(journeys.total_conversions)
            assert credit.values.sum() == pytest.approx(journeys.total_value)
            assert (credit.conversions >= -1e-12).all() and (credit.values >= -1e-12).all()


@settings(max_examples=30, deadline=None)
@given(data=journey_lists())
def test_models_that_read_paths_answer_the_same_on_journeys_and_on_their_aggregate(
    data: tuple[list[Journey], tuple[str, ...]],
) -> None:
    journeys = to_journeys(*data)
    names = [name for name, model in MODELS.items() if model.needs == "paths"]
    from_journeys = attribute(journeys, names, order=2)
    from_paths = attribute(journeys.aggregate(), names, order=2)
    for name in names:
        assert from_journeys[name].conversions == pytest.approx(from_paths[name].conversions)
        assert from_journeys[name].values == pytest.approx(from_paths[name].values)


def test_paths_get_every_model_but_time_decay_by_default() -> None:
    paths = paths_from_lists([["a", "b"]], [1], nulls=[1], values=[10])
    assert list(attribute(paths)) == [name for name in MODELS if name != "time_decay"]


def test_options_reach_the_models_that_take_them() -> None:
    paths = paths_from_lists([["a", "b", "c"]], [10])
    credits = attribute(paths, ["position_based", "last_non_direct"], first=0.6, last=0.2,
                        direct="c")  # fmt: skip
    assert credits["position_based"].conversions.tolist() == pytest.approx([6.0, 2.0, 2.0])
    assert credits["last_non_direct"].by_channel()["b"] == (10.0, 0.0)


def test_an_unknown_model_or_option_is_refused() -> None:
    paths = paths_from_lists([["a"]], [1])
    with pytest.raises(FieldError, match="unknown model 'lifetime'") as raised:
        attribute(paths, ["lifetime"])
    assert raised.value.field == "models"
    with pytest.raises(FieldError, match="no chosen model takes the option 'order'"):
        attribute(paths, ["linear"], order=2)


def _everything_to_the_first_channel(data: Sequences, *, scale: float = 1.0) -> Credit:
    """A third party's model."""
    conversions = np.zeros(len(data.names))
    values = np.zeros(len(data.names))
    conversions[0], values[0] = data.total_conversions * scale, data.total_value * scale
    return Credit("first_channel", data.names, conversions, values,
                  data.total_conversions, data.total_value)  # fmt: skip


def test_a_registered_model_is_run_like_the_built_in_ones() -> None:
    model = register_model("first_channel", _everything_to_the_first_channel)
    try:
        assert model == Model(
            "first_channel", _everything_to_the_first_channel, "paths", ("scale",),
            "A third party's model.", faster_on_paths=False,
        )  # fmt: skip
        paths = paths_from_lists([["a", "b"], ["b"]], [1, 2], values=[3, 4])
        assert attribute(paths, ["first_channel"])["first_channel"].by_channel() == {
            "a": (3.0, 7.0),
            "b": (0.0, 0.0),
        }
        with pytest.raises(AssertionError, match=r"credits 6\.0 conversions"):
            attribute(paths, ["first_channel"], scale=2.0)
    finally:
        del MODELS["first_channel"]
