"""``kenning attribution`` on a store file, ``attribution paths FILE`` with no store, and
``attribution acquisition``: JSON, CSV and tables; bad input is one line and exit 1."""

from pathlib import Path

from tests.cli.test_activation import _json, _ok, _one_line_error
from tests.cli.test_journeys import EVENTS, SPEND

PATHS = "journey;buys;lost;revenue\nsearch > email > search;3;1;30\nemail;1;4;5\n"


def test_attribution_on_a_store_file_with_return_on_spend(tmp_path: Path) -> None:
    db = ("--db", str(tmp_path / "k.duckdb"))
    (tmp_path / "events.jsonl").write_text(EVENTS)
    (tmp_path / "spend.csv").write_text(SPEND)
    _ok(("import", "events.jsonl", "--source", "web", *db), tmp_path)
    _ok(("spend", "import", "spend.csv", *db), tmp_path)
    found = _json(("attribution", "--conversion", "Order Completed", "--models",
                   "last_touch,markov", "--markov-order", "2", *db), tmp_path)  # fmt: skip
    assert found["total_conversions"] == 2 and found["total_value"] == 50
    last = {c["channel"]: c["value"] for c in found["models"]["last_touch"]["channels"]}
    assert last == {"organic_social": 40.0, "paid_search": 10.0}
    roi = {(r["model"], r["channel"]): r for r in found["roi"]}
    assert roi["last_touch", "paid_search"]["cost"] == 30.0
    assert roi["last_touch", "paid_search"]["roas"] == 10.0 / 30.0
    assert roi["last_touch", "display"]["conversions"] == 0.0  # spend, no credit
    table = _ok(("attribution", "--conversion", "Order Completed", *db), tmp_path)
    assert "return on spend" in table and "time_decay" in table
    rows = _ok(("attribution", "--conversion", "Order Completed", "--models", "first_touch",
                "--csv", *db), tmp_path).splitlines()  # fmt: skip
    assert rows[0] == "model,channel,conversions,value" and len(rows) == 3
    firsts = _json(("attribution", "acquisition", "--event", "Order Completed", *db), tmp_path)
    assert firsts["events"][0]["total_conversions"] == 2
    assert "markov_order" in _one_line_error(
        ("attribution", "--conversion", "Order Completed", "--markov-order", "7", *db), tmp_path
    )
    assert "conversion" in _one_line_error(("attribution", *db), tmp_path)


def test_a_path_file_needs_no_store(tmp_path: Path) -> None:
    (tmp_path / "paths.csv").write_text(PATHS)
    columns = ("--path-col", "journey", "--conv-col", "buys", "--null-col", "lost",
               "--value-col", "revenue")  # fmt: skip
    found = _json(("attribution", "paths", "paths.csv", *columns), tmp_path)
    assert set(found["models"]) == {"first_touch", "last_touch", "last_non_direct", "linear",
                                    "position_based", "markov", "shapley"}  # fmt: skip
    for credit in found["models"].values():
        assert sum(c["conversions"] for c in credit["channels"]) == 4.0
    first = {c["channel"]: c["value"] for c in found["models"]["first_touch"]["channels"]}
    assert first == {"email": 5.0, "search": 30.0}
    assert not (tmp_path / "kenning.duckdb").exists()
    error = _one_line_error(("attribution", "paths", "paths.csv", "--conv-col", "sales",
                             "--path-col", "journey"), tmp_path)  # fmt: skip
    assert "sales" in error
