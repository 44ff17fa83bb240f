"""``kenning traits`` on a local store: declare from YAML, list, recompute, remove; bad input
is one readable line and a non-zero exit."""

from pathlib import Path

import orjson

from tests.cli.test_cli import kenning

ORDERS = "".join(
    orjson.dumps(
        {"type": "track", "userId": "u1", "event": "Order Completed",
         "properties": {"revenue": r, "category": c}, "timestamp": f"2026-03-0{i + 1}T00:00:00Z"}
    ).decode() + "\n"
    for i, (r, c) in enumerate([(10, "hats"), (20, "shoes"), (5, "hats")])
)  # fmt: skip


def test_declare_list_recompute_remove(tmp_path: Path) -> None:
    db = str(tmp_path / "k.duckdb")
    (tmp_path / "orders.jsonl").write_text(ORDERS)
    assert (
        kenning("import", "orders.jsonl", "--source", "shop", "--db", db, cwd=tmp_path).returncode
        == 0
    )
    (tmp_path / "traits.yaml").write_text(
        "biggest_order: {kind: max, event: Order Completed, value: properties.revenue}\n"
        "categories: {kind: unique_count, value: properties.category}\n"
    )
    declared = kenning("traits", "declare", "traits.yaml", "--db", db, cwd=tmp_path)
    assert declared.returncode == 0, declared.stderr
    shown = kenning("profile", "show", "user_id:u1", "--db", db, "--json", cwd=tmp_path)
    computed = orjson.loads(shown.stdout)["computed_traits"]
    assert (computed["biggest_order"], computed["categories"]) == (20, 2)
    assert computed["favourite_category"] == "hats"
    listed = kenning("traits", "list", "--db", db, "--json", cwd=tmp_path)
    origins = {t["name"]: t["origin"] for t in orjson.loads(listed.stdout)}
    assert origins["biggest_order"] == "api" and origins["orders_count"] == "builtin"
    table = kenning("traits", "list", "--db", db, cwd=tmp_path, env={"COLUMNS": "160"})
    assert "biggest_order" in table.stdout and "Order Completed" in table.stdout
    again = kenning("traits", "recompute", "--db", db, "--json", cwd=tmp_path)
    assert len(orjson.loads(again.stdout)["recomputed"]) == len(origins)
    assert kenning("traits", "remove", "categories", "--db", db, cwd=tmp_path).returncode == 0
    shown = kenning("profile", "show", "user_id:u1", "--db", db, "--json", cwd=tmp_path)
    assert "categories" not in orjson.loads(shown.stdout)["computed_traits"]


def test_bad_input_is_one_line_and_a_failure(tmp_path: Path) -> None:
    db = str(tmp_path / "k.duckdb")
    (tmp_path / "bad.yaml").write_text("spend: {kind: sum}\n")
    bad = kenning("traits", "declare", "bad.yaml", "--db", db, cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == ["error: spend.value: a sum trait needs a value path"]
    gone = kenning("traits", "remove", "nothing", "--db", db, cwd=tmp_path)
    assert gone.returncode == 1 and "nothing" in gone.stderr
    unknown = kenning("traits", "recompute", "--name", "nothing", "--db", db, cwd=tmp_path)
    assert unknown.returncode == 1 and "no computed trait is named 'nothing'" in unknown.stderr
