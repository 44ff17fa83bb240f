"""``kenning predict clv --transactions FILE``: the CDNOW fit as the papers publish it, the
holdout, per-customer scores; bad input is one line and exit 1."""

import csv
from pathlib import Path

import pytest

from tests.cli.test_activation import _json, _ok, _one_line_error
from tests.predictions.cdnow import FILE

CDNOW = ("predict", "clv", "--transactions", str(FILE), "--customer-col", "customer_id",
         "--date-col", "date", "--amount-col", "amount", "--calibration-end", "1997-09-30",
         "--time-unit", "week")  # fmt: skip


def test_clv_of_a_transactions_file_prints_parameters_and_holdout(tmp_path: Path) -> None:
    found = _json((*CDNOW, "--json", "--scores", str(tmp_path / "scores.csv")), tmp_path)
    assert found["customers"] == 2357 and found["transactions"] == 6919
    assert (found["calibration_end"], found["observation_end"]) == ("1997-09-30", "1998-06-30")
    bgnbd = found["models"]["bgnbd"]
    assert bgnbd["params"]["r"] == pytest.approx(0.243, rel=0.005)
    assert bgnbd["params"]["b"] == pytest.approx(2.426, rel=0.005)
    assert found["models"]["paretonbd"]["params"]["beta"] == pytest.approx(11.669, rel=0.005)
    assert found["gammagamma"]["params"]["q"] == pytest.approx(3.74, rel=0.005)
    holdout = bgnbd["holdout"]
    assert holdout["length"] == 39 and holdout["actual_purchases"] == 1882
    with (tmp_path / "scores.csv").open() as scores:
        rows = list(csv.DictReader(scores))
    assert len(rows) == 2357 and rows[0]["customer"] == "0001" and rows[0]["frequency"] == "2"
    assert all(0 < float(r["p_alive"]) <= 1 and float(r["clv"]) >= 0 for r in rows)
    table = _ok(CDNOW, tmp_path)
    assert "fitted parameters" in table and "1,882 purchases seen" in table


def test_without_a_calibration_end_there_is_no_holdout(tmp_path: Path) -> None:
    found = _json(("predict", "clv", "--transactions", str(FILE), "--models", "paretonbd",
                   "--time-unit", "day", "--json"), tmp_path)  # fmt: skip
    assert list(found["models"]) == ["paretonbd"]
    assert found["models"]["paretonbd"]["holdout"] is None
    assert found["observation_end"] == found["calibration_end"] == "1998-06-30"


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text("who,when,paid\na,2024-01-01,x\n")
    orders = ("predict", "clv", "--transactions", str(tmp_path / "orders.csv"))
    assert "no 'customer_id' column" in _one_line_error(orders, tmp_path)
    columns = ("--customer-col", "who", "--date-col", "when", "--amount-col", "paid")
    assert "orders.csv:2.paid" in _one_line_error((*orders, *columns), tmp_path)
    assert "time unit" in _one_line_error((*CDNOW, "--time-unit", "fortnight"), tmp_path)
    assert "models" in _one_line_error((*CDNOW, "--models", "magic"), tmp_path)
    assert "no file" in _one_line_error(("predict", "clv", "--transactions", "nope.csv"),
                                        tmp_path)  # fmt: skip
