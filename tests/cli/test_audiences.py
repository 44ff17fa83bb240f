"""``kenning audiences`` on a local store: preview from YAML, declare, list, members, evaluate,
remove; a bad condition is one readable line naming the node, and a non-zero exit."""

from pathlib import Path

import orjson

from tests.cli.test_cli import kenning

ORDERS = "".join(
    orjson.dumps(
        {"type": "track", "userId": f"u{i % 3}", "event": "Order Completed",
         "properties": {"revenue": r}, "timestamp": f"2026-03-0{i + 1}T00:00:00Z"}
    ).decode() + "\n"
    for i, r in enumerate([10, 20, 5, 600, 700])
)  # fmt: skip
AUDIENCE = """name: repeat_buyers
description: two orders or more
condition:
  all:
    - {event: Order Completed, at_least: 2}
    - {computed: lifetime_value, gte: 100}
"""


def test_preview_declare_list_members_evaluate_remove(tmp_path: Path) -> None:
    db = str(tmp_path / "k.duckdb")
    (tmp_path / "orders.jsonl").write_text(ORDERS)
    imported = kenning("import", "orders.jsonl", "--source", "shop", "--db", db, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    (tmp_path / "repeat.yaml").write_text(AUDIENCE)
    # u0: 10 + 600; u1: 20 + 700; u2: 5 (one order)
    previewed = kenning("audiences", "preview", "repeat.yaml", "--db", db, "--json", cwd=tmp_path)
    assert previewed.returncode == 0, previewed.stderr
    assert orjson.loads(previewed.stdout)["size"] == 2
    listed = kenning("audiences", "list", "--db", db, "--json", cwd=tmp_path)
    assert orjson.loads(listed.stdout) == []  # a preview saves nothing
    declared = kenning("audiences", "declare", "repeat.yaml", "--db", db, cwd=tmp_path)
    assert declared.returncode == 0 and "2 members" in declared.stdout, declared.stderr
    members = kenning("audiences", "members", "repeat_buyers", "--limit", "1", "--db", db,
                      cwd=tmp_path)  # fmt: skip
    assert len(members.stdout.splitlines()) == 1 and "--cursor" in members.stderr
    evaluated = kenning("audiences", "evaluate", "--db", db, cwd=tmp_path)
    assert "0 entered, 0 exited" in evaluated.stdout
    table = kenning("audiences", "list", "--db", db, cwd=tmp_path, env={"COLUMNS": "160"})
    assert "repeat_buyers" in table.stdout
    assert kenning("audiences", "remove", "repeat_buyers", "--db", db, cwd=tmp_path).returncode == 0
    gone = kenning("audiences", "remove", "repeat_buyers", "--db", db, cwd=tmp_path)
    assert gone.returncode != 0 and "no audience is named" in gone.stderr


def test_a_bad_condition_is_one_line_naming_the_node(tmp_path: Path) -> None:
    db = str(tmp_path / "k.duckdb")
    (tmp_path / "bad.yaml").write_text(
        "name: bad\ncondition: {all: [{trait: email, exists: true}, {trait: age, gte: old}]}\n"
    )
    failed = kenning("audiences", "declare", "bad.yaml", "--db", db, cwd=tmp_path)
    assert failed.returncode != 0
    assert len(failed.stderr.strip().splitlines()) == 1
    assert "condition.all[1].gte" in failed.stderr
