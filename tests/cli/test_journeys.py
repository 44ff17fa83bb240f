"""``kenning journey``, ``paths`` and ``spend import`` on a store file and through a running
server: the same answers both ways; bad input is one line naming the field, exit 1."""

from pathlib import Path

import orjson

from tests.cli.test_activation import _json, _ok, _one_line_error
from tests.live import ADMIN_TOKEN, LiveServer

EVENTS = "".join(
    orjson.dumps(m).decode() + "\n"
    for m in [
        {"type": "page", "anonymousId": "a1", "name": "Home", "timestamp": "2026-03-01T10:00:00Z",
         "context": {"campaign": {"source": "google", "medium": "cpc", "name": "brand"}}},
        {"type": "page", "anonymousId": "a1", "name": "Home", "timestamp": "2026-03-02T10:00:00Z",
         "context": {"page": {"referrer": "https://www.facebook.com/"}}},
        {"type": "identify", "anonymousId": "a1", "userId": "u1",
         "timestamp": "2026-03-02T10:01:00Z"},
        {"type": "track", "userId": "u1", "event": "Order Completed",
         "properties": {"revenue": 40}, "timestamp": "2026-03-02T10:05:00Z"},
        {"type": "page", "anonymousId": "a2", "name": "Home", "timestamp": "2026-03-03T10:00:00Z",
         "context": {"campaign": {"source": "google", "medium": "cpc", "name": "brand"}}},
        {"type": "track", "anonymousId": "a2", "event": "Order Completed",
         "properties": {"revenue": 10}, "timestamp": "2026-03-03T10:05:00Z"},
    ]
)  # fmt: skip
GOALS = """goals:
  home:
    touchpoint: {type: page, event: Home}
    goal: {event: Order Completed}
    window: 2d
    benchmark: 0.5
"""
SPEND = "date,channel,campaign,spend\n2026-03-01,paid_search,brand,30\n2026-03-02,display,,5\n"


def _asked(tmp_path: Path, *where: str, env: dict[str, str] | None = None) -> None:
    journey = _json(("journey", "user_id:u1", *where), tmp_path, env)
    assert journey["summary"]["channels"] == ["paid_search", "organic_social"]
    table = _ok(("journey", "user_id:u1", *where), tmp_path, env)
    assert "organic_social" in table and "2 touches" in table
    paths = _json(("paths", "--goal", "Order Completed", *where), tmp_path, env)
    assert [(p["path"], p["conversions"]) for p in paths["paths"]] == [
        (["paid_search"], 1), (["paid_search", "organic_social"], 1)]  # fmt: skip
    rows = _ok(("paths", "--goal", "Order Completed", "--csv", "--steps", "1", *where), tmp_path,
               env)  # fmt: skip
    assert rows.splitlines() == ["path,people,conversions", "organic_social,1,1",
                                 "paid_search,1,1"]  # fmt: skip
    error = _one_line_error(("paths", "--goal", "Order Completed", "--lookback", "soon", *where),
                            tmp_path, env)  # fmt: skip
    assert "lookback" in error and "window" in error
    missing = _one_line_error(("journey", "user_id:nobody", *where), tmp_path, env)
    assert "no profile holds" in missing
    steps = ("--step", "Home", "--step", "Order Completed")
    funnel = _json(("funnel", *steps, "--breakdown", "channel", *where), tmp_path, env)
    assert funnel["window"] == "14 days" and funnel["mode"] == "ordered"
    assert [s["entered"] for s in funnel["overall"]["steps"]] == [2, 2]
    # each person's converting attempt started from a paid-search visit
    assert [(g["group"], g["steps"][1]["entered"]) for g in funnel["groups"]] == [
        ("paid_search", 2)]  # fmt: skip
    rows = _ok(("funnel", *steps, "--csv", "--window", "2m", *where), tmp_path, env)
    header, first, second = rows.splitlines()
    assert header.startswith("overall,group,step,name,entered")
    # both orders came five minutes after a Home page: not within two minutes
    assert (first.split(",")[4], second.split(",")[4]) == ("2", "0")
    table = _ok(("funnel", *steps, *where), tmp_path, env)
    assert "conversion window is 14 days" in table and "Order Completed" in table
    assert "window" in _one_line_error(("funnel", *steps, "--window", "soon", *where), tmp_path,
                                       env)  # fmt: skip
    assert "not both" in _one_line_error(("funnel", *where), tmp_path, env)
    (tmp_path / "goals.yaml").write_text(GOALS)
    report = _json(("goals", "goals.yaml", *where), tmp_path, env)
    assert [(g["name"], g["touched"], g["converted"]) for g in report["goals"]] == [
        ("home", 2, 2)]  # fmt: skip
    assert "home" in _ok(("goals", "goals.yaml", *where), tmp_path, env)
    (tmp_path / "bad.yaml").write_text(GOALS.replace("0.5", "five"))
    assert "goals.home.benchmark" in _one_line_error(("goals", "bad.yaml", *where), tmp_path, env)


def test_journeys_paths_and_spend_on_a_store_file(tmp_path: Path) -> None:
    db = ("--db", str(tmp_path / "k.duckdb"))
    (tmp_path / "events.jsonl").write_text(EVENTS)
    (tmp_path / "spend.csv").write_text(SPEND)
    (tmp_path / "bad.csv").write_text("date,channel,spend\n2026-03-01,television,3\n")
    _ok(("import", "events.jsonl", "--source", "web", *db), tmp_path)
    _asked(tmp_path, *db)
    stored = _json(("spend", "import", "spend.csv", *db), tmp_path)
    assert stored["rows"] == 2 and stored["channels"] == ["display", "paid_search"]
    error = _one_line_error(("spend", "import", "bad.csv", *db), tmp_path)
    assert "spend:2.channel" in error and "television" in error


def test_journeys_paths_and_spend_through_a_server(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    (tmp_path / "events.jsonl").write_text(EVENTS)
    (tmp_path / "spend.csv").write_text(SPEND)
    _ok(("import", "events.jsonl", "--source", "web", "--db", str(db)), tmp_path)
    server = LiveServer(db).start()
    try:
        env = {"KENNING_TOKEN": ADMIN_TOKEN}
        where = ("--db", str(db))  # the CLI finds the server holding the file
        _asked(tmp_path, *where, env=env)
        assert _json(("spend", "import", "spend.csv", *where), tmp_path, env)["rows"] == 2
        error = _one_line_error(("paths", "--goal", "Order Completed", "--label", "device",
                                 *where), tmp_path, env)  # fmt: skip
        assert "label" in error
    finally:
        server.stop()
