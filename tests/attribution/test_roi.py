"""Spend files and return on spend: a bad file is refused whole with its line and column, a
re-import replaces, ROAS and CPA follow the credited figures."""

from datetime import UTC, date, datetime

import pytest

from kenning.attribution.roi import read_spend, returns, spend_by, store_spend
from kenning.errors import FieldError
from kenning.store.store import Store

NOW = datetime(2026, 4, 1, tzinfo=UTC)
GOOD = """date,channel,campaign,spend,currency
2026-03-01,paid_search,brand,100.5,EUR
2026-03-01,paid_social,spring,50,EUR
2026-03-02,paid_search,brand,99.5,EUR
2026-03-02,display,,10,
"""


def test_spend_is_stored_summed_by_channel_and_campaign_and_replaced_on_reimport(
    store: Store,
) -> None:
    rows = read_spend(GOOD)
    assert len(rows) == 4
    assert store.writer.run(lambda con: store_spend(con, rows, NOW)).result() == 4
    with store.reader() as con:
        assert spend_by(con, None, None, by="channel") == {
            "paid_search": 200.0, "paid_social": 50.0, "display": 10.0}  # fmt: skip
        assert spend_by(con, date(2026, 3, 2), None, by="channel") == {
            "paid_search": 99.5, "display": 10.0}  # fmt: skip
        assert spend_by(con, None, date(2026, 3, 2), by="campaign") == {
            "brand": 100.5, "spring": 50.0}  # fmt: skip
    corrected = read_spend("date,channel,campaign,spend\n2026-03-01,paid_search,brand,1\n")
    store.writer.run(lambda con: store_spend(con, corrected, NOW)).result()
    with store.reader() as con:
        assert spend_by(con, None, None, by="channel")["paid_search"] == 100.5


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("day,channel,spend\n", "spend:1"),
        ("date,channel,spend,clicks\n", "spend:1"),
        ("date,channel,spend\n2026-03-01,paid_search,1\n2026-13-01,paid_search,1\n",
         "spend:3.date"),
        ("date,channel,spend\n2026-03-01,tv,1\n", "spend:2.channel"),
        ("date,channel,spend\n2026-03-01,email,-1\n", "spend:2.spend"),
        ("date,channel,spend\n2026-03-01,email,nan\n", "spend:2.spend"),
        ("date,channel,spend\n2026-03-01,email,12 EUR\n", "spend:2.spend"),
        ("date,channel,spend\n2026-03-01,email,1,2\n", "spend:2"),
        ("date,channel,spend\n2026-03-01,email,1\n2026-03-01,Email,2\n", "spend:3"),
        # what the csv module cannot read at all: a field over its 128 KiB limit
        ("date,channel,spend\n2026-03-01,email,1\n" + "x" * 200_000, "spend:3"),
        ("date,channel," + "x" * 200_000 + "\n", "spend:1"),
    ],
)  # fmt: skip
def test_a_bad_spend_file_is_refused_at_its_first_bad_cell(text: str, field: str) -> None:
    with pytest.raises(FieldError) as refused:
        read_spend(text)
    assert refused.value.field == field


def test_roas_and_cpa_per_model_and_channel() -> None:
    credits = {"last_touch": {"paid_search": (4.0, 400.0), "direct": (2.0, 100.0)},
               "linear": {"paid_search": (2.5, 250.0), "direct": (3.5, 250.0)}}  # fmt: skip
    rows = {(r.model, r.channel): r for r in returns(credits, {"paid_search": 200.0,
                                                               "display": 50.0})}  # fmt: skip
    assert rows["last_touch", "paid_search"].roas == 2.0
    assert rows["last_touch", "paid_search"].cpa == 50.0
    assert rows["linear", "paid_search"].cpa == 80.0
    # no spend: no ROAS, not an infinite one; spend with no credit: all cost
    assert rows["last_touch", "direct"].roas is None and rows["last_touch", "direct"].cost is None
    assert rows["linear", "display"].to_dict() == {"model": "linear", "channel": "display",
        "conversions": 0.0, "revenue": 0.0, "cost": 50.0, "roas": 0.0, "cpa": None}  # fmt: skip
