"""``kenning predict clv --transactions FILE``: the CDNOW fit as the papers publish it, the
holdout, per-customer scores; ``predict run`` and ``predict models`` on a store file; bad
input is one line and exit 1."""

import csv
import subprocess
import sys
from pathlib import Path

import orjson
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


def test_run_scores_a_store_and_models_shows_the_cards(tmp_path: Path) -> None:
    db = ("--db", str(tmp_path / "k.duckdb"))
    orders = [
        {"type": "track", "userId": f"c{i}", "event": "Order Completed",
         "timestamp": f"2026-0{1 + (i + k) % 5}-{10 + i % 15}T10:00:00Z",
         "properties": {"revenue": 10 + (i * k) % 13},
         "context": {"consent": {"categoryPreferences": {"personalisation": True}}}}
        for i in range(30) for k in range(1 + i % 3)
    ]  # fmt: skip
    (tmp_path / "orders.jsonl").write_text("\n".join(orjson.dumps(o).decode() for o in orders))
    _ok(("import", "orders.jsonl", "--source", "shop", *db), tmp_path)
    ran = _json(("predict", "run", "--as-of", "2026-06-30", "--json", *db), tmp_path)
    assert ran["customers"] == 30 and ran["orders"] == len(orders)
    assert ran["models"]["lifecycle"]["scores_written"] == 30
    assert set(ran["audiences"]) == {"entered", "exited"}
    only = _json(("predict", "run", "--models", "rfm", "--json", *db), tmp_path)
    assert list(only["models"]) == ["rfm"]
    cards = {r["model"]: r for r in _json(("predict", "models", "--json", *db), tmp_path)["runs"]}
    assert set(cards) == {"rfm", "clv", "lifecycle", "next_channel"}
    assert cards["clv"]["report"]["fits"][0]["params"]["r"] > 0
    assert "scores written" in _ok(("predict", "run", *db), tmp_path)
    assert "bgnbd r" in _ok(("predict", "models", *db), tmp_path)
    assert "magic" in _one_line_error(("predict", "run", "--models", "magic", *db), tmp_path)
    assert "as_of" in _one_line_error(("predict", "run", "--as-of", "soon", *db), tmp_path)
    assert "no audience is named 'vip'" in _one_line_error(
        ("predict", "lookalike", "--seed", "vip", "--name", "like_vip", *db), tmp_path
    )


def test_the_command_does_not_import_the_models_until_asked() -> None:
    """scipy's special functions and scikit-learn cost over a second to import: every
    command would pay it if the CLI or the API imported the models up front."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, kenning.cli.main, kenning.api.app; "
         "print(sorted(m for m in ('sklearn', 'scipy.special') if m in sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert loaded == "[]"
