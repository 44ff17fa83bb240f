"""``kenning destinations``, ``campaigns`` and ``deliveries``, on a store file and through a
running server: declare from YAML, list and show (secrets masked), page the delivery log, see a
delivery's attempts and dead letters, replay; bad input is one line naming the field and a
non-zero exit."""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.activation.destinations.scripted import running
from tests.cli.test_cli import kenning
from tests.live import ADMIN_TOKEN, LiveServer

SECRET = "a-secret-of-16-chars"
ORDERS = "".join(
    orjson.dumps(
        {"type": "track", "userId": f"u{i}", "event": "Order Completed",
         "properties": {"revenue": 10 * (i + 1)}, "timestamp": f"2026-03-0{i + 1}T00:00:00Z"}
    ).decode() + "\n"
    for i in range(2)
)  # fmt: skip
OFFER = """name: offer
trigger: {event: Order Completed}
message: {body: "thanks, {{ traits.first_name or 'friend' }}"}
channel: webhook
channels: {webhook: {destination: hook}}
"""


BUYERS = "name: buyers\ncondition: {event: Order Completed, at_least: 1}\n"
FILES = "name: files\nkind: file\nconfig: {folder: exports, format: csv}\naudiences: [buyers]\n"


def _hook(url: str) -> str:
    return f"""name: hook
kind: webhook
config:
  url: {url}
  secret: {SECRET}
  headers: {{X-Api-Key: key-in-a-header}}
events: {{names: [Order Completed]}}
"""


def _until(check: Callable[[], bool], seconds: float = 20.0) -> bool:
    """Poll ``check`` until it holds; the bound is generous, not a target."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _ok(args: tuple[str, ...], tmp_path: Path, env: dict[str, str] | None = None) -> str:
    done = kenning(*args, cwd=tmp_path, env={"COLUMNS": "200", **(env or {})})
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


def _json(args: tuple[str, ...], tmp_path: Path, env: dict[str, str] | None = None) -> Any:
    return orjson.loads(_ok((*args, "--json"), tmp_path, env))


def _one_line_error(
    args: tuple[str, ...], tmp_path: Path, env: dict[str, str] | None = None
) -> str:
    done = kenning(*args, cwd=tmp_path, env=env)
    assert done.returncode == 1, (args, done.stdout)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_declare_list_show_page_remove_and_replay_on_a_store_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KENNING_ALLOW_PRIVATE_DESTINATIONS", "1")  # the hook is on loopback
    db = ("--db", str(tmp_path / "k.duckdb"))
    (tmp_path / "hook.yaml").write_text(_hook("http://127.0.0.1:9/hook"))
    (tmp_path / "offer.yaml").write_text(OFFER)
    (tmp_path / "orders.jsonl").write_text(ORDERS)

    kinds = {k["kind"]: k for k in _json(("destinations", "kinds", *db), tmp_path)}
    assert {"webhook", "email", "file", "segment"} <= kinds.keys()
    assert "url" in kinds["webhook"]["config_schema"]["required"]
    assert "declared hook (webhook)" in _ok(("destinations", "declare", "hook.yaml", *db), tmp_path)
    [listed] = _json(("destinations", "list", *db), tmp_path)
    assert listed["config"]["secret"] == "********"
    assert listed["config"]["headers"] == {"X-Api-Key": "********"}
    assert listed["events"] == {"names": ["Order Completed"], "types": []}
    shown = _ok(("destinations", "show", "hook", *db), tmp_path)
    assert "********" in shown and SECRET not in shown and "key-in-a-header" not in shown
    assert "declared offer" in _ok(("campaigns", "declare", "offer.yaml", *db), tmp_path)

    # Each order owes the hook a copy of the event and schedules the campaign's message; no
    # server runs, so nothing is sent.
    _ok(("import", "orders.jsonl", "--source", "shop", *db), tmp_path)
    [campaign] = _json(("campaigns", "list", *db), tmp_path)
    assert campaign["messages"] == {"scheduled": 2}
    assert "scheduled 2" in _ok(("campaigns", "show", "offer", *db), tmp_path)
    # Nothing decided yet: no one reached, no one held back.
    lift = _json(("campaigns", "lift", "offer", "--event", "Order Completed", *db), tmp_path)
    assert lift["treated"]["people"] == 0 and lift["lift"] is None
    assert _json(("destinations", "show", "hook", *db), tmp_path)["deliveries"] == {"pending": 2}
    first = _json(("deliveries", "list", "--destination", "hook", "--limit", "1", *db), tmp_path)
    assert [d["status"] for d in first["deliveries"]] == ["pending"] and first["next_cursor"]
    cursor = ("--cursor", first["next_cursor"])
    rest = _json(("deliveries", "list", "--destination", "hook", *cursor, *db), tmp_path)
    assert rest["next_cursor"] is None
    hooked = sorted(d["id"] for d in first["deliveries"] + rest["deliveries"])
    paged = kenning("deliveries", "list", "--campaign", "offer", "--limit", "1", *db,
                    cwd=tmp_path, env={"COLUMNS": "200"})  # fmt: skip
    assert "scheduled" in paged.stdout and "next page: --cursor" in paged.stderr

    in_use = _one_line_error(("destinations", "remove", "hook", *db), tmp_path)
    assert in_use == "error: campaign 'offer' sends through 'hook'"
    assert "removed offer" in _ok(("campaigns", "remove", "offer", *db), tmp_path)
    removed = _ok(("destinations", "remove", "hook", *db), tmp_path)
    assert "2 deliveries still owed are dead letters" in removed
    dead = _json(("deliveries", "list", "--status", "dead", *db), tmp_path)["deliveries"]
    assert sorted(d["id"] for d in dead) == hooked
    detail = _json(("deliveries", "show", str(hooked[0]), *db), tmp_path)
    assert detail["payload"]["event"] == "Order Completed"
    assert [letter["detail"] for letter in detail["dead_letters"]] == ["destination removed"]
    assert "dead letters" in _ok(("deliveries", "show", str(hooked[0]), *db), tmp_path)

    _ok(("destinations", "declare", "hook.yaml", *db), tmp_path)
    one = _ok(("deliveries", "replay", "--id", str(hooked[0]), *db), tmp_path)
    assert f"replayed 1 delivery: {hooked[0]}" in one
    rest_replayed = _ok(("deliveries", "replay", "--destination", "hook", *db), tmp_path)
    assert f"replayed 1 delivery: {hooked[1]}" in rest_replayed
    nothing = _ok(("deliveries", "replay", "--destination", "hook", *db), tmp_path)
    assert "nothing replayed" in nothing
    again = _json(("deliveries", "show", str(hooked[0]), *db), tmp_path)
    assert again["status"] == "pending" and again["dead_letters"][0]["replayed_at"]

    not_files = _one_line_error(("destinations", "snapshot", "hook", *db), tmp_path)
    assert not_files == "error: kind: only a file destination takes snapshots"
    (tmp_path / "buyers.yaml").write_text(BUYERS)
    (tmp_path / "files.yaml").write_text(FILES)
    _ok(("audiences", "declare", "buyers.yaml", *db), tmp_path)
    _ok(("destinations", "declare", "files.yaml", *db), tmp_path)
    written = _json(("destinations", "snapshot", "files", *db), tmp_path)
    path = Path(written["files"]["buyers"])
    assert path.is_relative_to(tmp_path / "exports")  # beside the store file
    assert len(path.read_text().splitlines()) == 3  # a header and the two buyers


def test_bad_input_is_one_line_naming_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KENNING_ALLOW_PRIVATE_DESTINATIONS", "1")
    db = ("--db", str(tmp_path / "k.duckdb"))
    files = {
        "ftp.yaml": _hook("ftp://127.0.0.1/hook"),
        "short.yaml": _hook("http://127.0.0.1:9/hook").replace(SECRET, "short"),
        "list.yaml": "- kind: webhook\n",
        "offer.yaml": OFFER,
        "template.yaml": OFFER.replace("{{ traits", "{{ traits }"),
        "unnamed.yaml": "kind: webhook\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    cases = [
        (("destinations", "declare", "ftp.yaml"), "config.url: the URL's scheme is http or https"),
        (("destinations", "declare", "short.yaml"), "config.secret: "),
        (("destinations", "declare", "list.yaml"), "list.yaml must hold a destination"),
        (("destinations", "declare", "unnamed.yaml"), "unnamed.yaml: the destination needs a name"),
        (("destinations", "declare", "absent.yaml"), "cannot read absent.yaml"),
        (("destinations", "show", "nope"), "no destination is named 'nope'"),
        (("destinations", "snapshot", "nope"), "no destination is named 'nope'"),
        (("campaigns", "declare", "offer.yaml"),
         "channels.webhook.destination: no destination is named 'hook'"),
        (("campaigns", "declare", "template.yaml"), "message.body: "),
        (("campaigns", "remove", "nope"), "no campaign is named 'nope'"),
        (("deliveries", "list", "--status", "lost"), "--status is one of scheduled, pending"),
        (("deliveries", "list", "--cursor", "soon"), "--cursor is not one a page gave"),
        (("deliveries", "show", "77"), "no delivery has id 77"),
        (("deliveries", "replay"), "give --id, --destination, or both"),
        (("deliveries", "replay", "--destination", "nope"), "no destination is named 'nope'"),
        (("campaigns", "lift", "nope", "--event", "X"), "no campaign is named 'nope'"),
    ]  # fmt: skip
    for args, expected in cases:
        line = _one_line_error((*args, *db), tmp_path)
        assert line.startswith(f"error: {expected}"), (args, line)


def test_activation_through_the_running_server(tmp_path: Path) -> None:
    """Replay after refusals, campaigns, the server's error lines, a file snapshot."""
    env = {"KENNING_TOKEN": ADMIN_TOKEN}
    with running("127.0.0.1") as receiver:
        receiver.script(410)  # refused: each delivery goes straight to the dead letters
        server = LiveServer(tmp_path / "live.duckdb").start()
        try:
            db = ("--db", str(server.db))  # the server holds the file: the CLI goes through it
            (tmp_path / "hook.yaml").write_text(_hook(receiver.url + "/hook"))
            (tmp_path / "ftp.yaml").write_text(_hook("ftp://127.0.0.1/hook"))
            (tmp_path / "orders.jsonl").write_text(ORDERS)
            (tmp_path / "offer.yaml").write_text(OFFER)
            (tmp_path / "lapsed.yaml").write_text(
                OFFER.replace("name: offer", "name: lapsed").replace(
                    "{event: Order Completed}", "{audience: nobody}"
                )
            )

            kinds = _json(("destinations", "kinds", *db), tmp_path, env)
            assert "webhook" in {k["kind"] for k in kinds}
            _ok(("destinations", "declare", "hook.yaml", *db), tmp_path, env)
            listed = _ok(("destinations", "list", *db), tmp_path, env)
            assert "hook" in listed and "events (Order Completed)" in listed
            _ok(("import", "orders.jsonl", "--source", "shop", "--url", server.url), tmp_path, env)

            def dead() -> list[dict[str, Any]]:
                with server.admin() as admin:
                    page = admin.get("/v1/deliveries", params={"status": "dead"}).json()
                    found: list[dict[str, Any]] = page["deliveries"]
                    return found

            assert _until(lambda: len(dead()) == 2)
            shown = _json(("destinations", "show", "hook", *db), tmp_path, env)
            assert shown["deliveries"] == {"dead": 2} and shown["config"]["secret"] == "********"
            listed_dead = _json(("deliveries", "list", "--status", "dead", *db), tmp_path, env)
            ids = sorted(d["id"] for d in listed_dead["deliveries"])
            table = _ok(("deliveries", "show", str(ids[0]), *db), tmp_path, env)
            assert "attempts" in table and "dead letters" in table and "HTTP 410" in table

            receiver.script(200)
            replayed = _ok(("deliveries", "replay", "--destination", "hook", *db), tmp_path, env)
            assert f"replayed 2 deliveries: {ids[0]}, {ids[1]}" in replayed
            assert _until(lambda: not dead())
            detail = _json(("deliveries", "show", str(ids[0]), *db), tmp_path, env)
            assert detail["status"] == "delivered" and len(detail["attempts_log"]) == 2
            assert detail["dead_letters"][0]["replayed_at"]

            _ok(("campaigns", "declare", "offer.yaml", *db), tmp_path, env)
            [campaign] = _json(("campaigns", "list", *db), tmp_path, env)
            assert campaign["name"] == "offer" and campaign["trigger"] == {
                "event": "Order Completed"
            }
            assert "webhook via hook" in _ok(("campaigns", "show", "offer", *db), tmp_path, env)
            _ok(("campaigns", "remove", "offer", *db), tmp_path, env)

            # The server's refusals: one line, its code, and the field it names.
            cases = [
                (("destinations", "declare", "ftp.yaml"),
                 "error: invalid_destination: config.url: the URL's scheme is http or https"),
                (("campaigns", "declare", "lapsed.yaml"),
                 "error: invalid_campaign: trigger.audience: no audience is named 'nobody'"),
                (("destinations", "snapshot", "hook"),
                 "error: not_a_file_destination: kind: only a file destination takes snapshots"),
                (("deliveries", "show", "999"), "error: not_found: no delivery has id 999"),
                (("deliveries", "list", "--status", "lost"),
                 "error: invalid_status: status is one of scheduled, pending, delivered, dead, "
                 "suppressed, holdout"),
            ]  # fmt: skip
            for args, expected in cases:
                assert _one_line_error((*args, *db), tmp_path, env) == expected
            refused = _one_line_error(
                ("destinations", "list", "--url", server.url), tmp_path, {"KENNING_TOKEN": "kn_x"}
            )
            assert refused == "error: unauthorized: unknown or revoked token"

            (tmp_path / "buyers.yaml").write_text(BUYERS)
            (tmp_path / "files.yaml").write_text(FILES)
            _ok(("audiences", "declare", "buyers.yaml", *db), tmp_path, env)
            _ok(("destinations", "declare", "files.yaml", *db), tmp_path, env)
            shown_files = _ok(("destinations", "snapshot", "files", *db), tmp_path, env)
            path = Path(shown_files.split(": ", 1)[1].strip())
            assert path.is_relative_to(tmp_path / "exports")  # beside the server's store file
            assert len(path.read_text().splitlines()) == 3  # a header and the two buyers
        finally:
            server.stop()
