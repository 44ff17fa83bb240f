"""Activation over HTTP against a live server, with real receivers on loopback (an HTTP server,
an SMTP server): triggers fire campaigns, the contact policy decides at send time (a store
purchase arriving through the API stops the offer for that product), the delivery log shows
what became of each message, dead letters are replayed; bad declarations are named by path."""

import csv
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiosmtpd.controller import Controller

from tests.activation.destinations.scripted import Reply, ScriptedServer, running
from tests.activation.destinations.test_smtp import Mailbox
from tests.api.test_profiles_api import reader
from tests.conftest import SourceUnderTest
from tests.live import LiveServer, free_port

SECRET = "a-secret-of-16-chars"


def _until(check: Callable[[], bool], seconds: float = 15.0) -> bool:
    """Poll ``check`` until it holds; the bound is generous, not a target."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@pytest.fixture()
def receiver() -> Iterator[ScriptedServer]:
    with running("127.0.0.1") as server:
        yield server


@pytest.fixture()
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _webhook(admin: httpx.Client, name: str, url: str, **extra: Any) -> None:
    spec = {"kind": "webhook", "config": {"url": url, "secret": SECRET}, **extra}
    _ok(admin.put(f"/v1/destinations/{name}", json=spec))


def _bodies(server: ScriptedServer) -> list[dict[str, Any]]:
    return [orjson.loads(r.body) for r in list(server.requests)]


def _profile_id(admin: httpx.Client, user: str) -> int:
    found = admin.get(f"/v1/profiles/user_id:{user}")
    assert found.status_code == 200, found.text
    return int(found.json()["profile_id"])


def _deliveries(admin: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = _ok(admin.get("/v1/deliveries", params=params))["deliveries"]
    return listed


def test_a_store_purchase_through_the_api_stops_the_offer_for_that_product(
    admin: httpx.Client,
    collector: httpx.Client,
    server: LiveServer,
    source: SourceUnderTest,
    mailbox: tuple[Mailbox, int],
) -> None:
    """The offer waits a little after the product is viewed; one customer buys it in a store
    meanwhile (the POS posts the order through the API as its own source), the other does
    not. At send time the buyer is in the exclusion audience: only the other gets the email."""
    box, port = mailbox
    tag = _tag()
    pos_key = server.create_source(f"pos-{tag}")
    viewed, bought = f"viewed_lamp_{tag}", f"bought_lamp_{tag}"
    product = {"properties.product_id": f"lamp-{tag}"}
    _ok(admin.put(f"/v1/audiences/{viewed}", json={"condition": {
        "event": "Product Viewed", "where": product, "within": "7d"}}))  # fmt: skip
    _ok(admin.put(f"/v1/audiences/{bought}", json={"condition": {
        "event": "Order Completed", "where": product, "within": "30d"}}))  # fmt: skip
    mail = f"mail_{tag}"
    _ok(admin.put(f"/v1/destinations/{mail}", json={
        "kind": "email", "consent": ["email"],
        "config": {"host": "127.0.0.1", "port": port, "from": "shop@lamps.example"}}))  # fmt: skip
    campaign = f"lamp_offer_{tag}"
    declared = _ok(admin.put(f"/v1/campaigns/{campaign}", json={
        "trigger": {"audience": viewed},
        "message": {"subject": "Still thinking, {{ traits.first_name }}?",
                    "body": "10% off the lamp you looked at."},
        "channel": "email", "channels": {"email": {"destination": mail}},
        "consent": ["marketing"], "exclude": [bought], "delay": "3s"}))  # fmt: skip
    assert declared["exclude"] == [bought]
    consent = {"consent": {"categoryPreferences": {"marketing": True, "email": True}}}
    buyer, browser = f"buyer-{tag}", f"browser-{tag}"
    for user, name in ((buyer, "Bea"), (browser, "Bo")):
        identify = {"userId": user, "traits": {"first_name": name, "email": f"{user}@x.example"},
                    "context": consent}  # fmt: skip
        assert collector.post("/v1/identify", json=identify).status_code == 200
        view = {"userId": user, "event": "Product Viewed",
                "properties": {"product_id": f"lamp-{tag}"}}  # fmt: skip
        assert collector.post("/v1/track", json=view).status_code == 200
    # The store's till, a source of its own, posts the buyer's purchase.
    order = {"userId": buyer, "event": "Order Completed",
             "properties": {"product_id": f"lamp-{tag}", "revenue": 89}}  # fmt: skip
    with httpx.Client(base_url=server.url, auth=(pos_key, ""), timeout=30) as pos:
        assert pos.post("/v1/track", json=order).status_code == 200
    assert _until(
        lambda: (
            {d["status"] for d in _deliveries(admin, campaign=campaign)}
            == {"suppressed", "delivered"}
        )
    )
    decided = {d["profile_id"]: d for d in _deliveries(admin, campaign=campaign)}
    assert decided[_profile_id(admin, buyer)]["status"] == "suppressed"
    assert decided[_profile_id(admin, buyer)]["detail"] == f"in exclusion audience {bought}"
    sent = decided[_profile_id(admin, browser)]
    assert (sent["status"], sent["channel"], sent["destination"]) == ("delivered", "email", mail)
    assert [r[1] for r in box.received] == [[f"{browser}@x.example"]]
    assert box.received[0][2]["Subject"] == "Still thinking, Bo?"
    assert "10% off" in box.received[0][2].get_content()


def test_an_event_trigger_renders_the_message_and_the_log_shows_each_attempt(
    admin: httpx.Client, collector: httpx.Client, receiver: ScriptedServer
) -> None:
    tag = _tag()
    hook, campaign = f"hook_{tag}", f"thanks_{tag}"
    _webhook(admin, hook, receiver.url + "/messages")
    receiver.script(503, 200)
    _ok(admin.put(f"/v1/campaigns/{campaign}", json={
        "trigger": {"event": "Order Completed", "where": {"properties.tag": tag,
                                                          "properties.revenue": {"gte": 50}}},
        "message": {"body": "Thanks {{ traits.first_name or 'friend' }}: "
                            "{{ event.properties.revenue }} on {{ event.properties.tag }}"},
        "channel": "webhook", "channels": {"webhook": {"destination": hook}}}))  # fmt: skip
    user = f"thanks-{tag}"
    identify = {"userId": user, "traits": {"first_name": "Cy"}}
    assert collector.post("/v1/identify", json=identify).status_code == 200
    for revenue in (10, 75):  # the first does not pass the filter
        order = {"userId": user, "event": "Order Completed",
                 "properties": {"tag": tag, "revenue": revenue}}  # fmt: skip
        assert collector.post("/v1/track", json=order).status_code == 200
    assert _until(lambda: [d["status"] for d in _deliveries(admin, campaign=campaign)] == [
        "delivered"])  # fmt: skip
    bodies = _bodies(receiver)
    assert len(bodies) == 2  # the 503, then the delivery
    assert bodies[0]["id"] == bodies[1]["id"]  # the same idempotency key on the retry
    assert bodies[1]["data"]["body"] == f"Thanks Cy: 75 on {tag}"
    assert bodies[1]["data"]["channel"] == "webhook"
    [listed] = _deliveries(admin, campaign=campaign)
    detail = _ok(admin.get(f"/v1/deliveries/{listed['id']}"))
    assert [(a["attempt"], a["status"], a["code"]) for a in detail["attempts_log"]] == [
        (1, "retry", 503), (2, "delivered", 200)]  # fmt: skip
    assert detail["payload"]["body"] == f"Thanks Cy: 75 on {tag}"


def test_a_refused_delivery_is_dead_lettered_with_the_response_and_replayed(
    admin: httpx.Client, collector: httpx.Client, receiver: ScriptedServer
) -> None:
    tag = _tag()
    audience, hook = f"members_{tag}", f"crm_{tag}"
    _ok(admin.put(f"/v1/audiences/{audience}", json={"condition": {"trait": "tag", "eq": tag}}))
    receiver.script(Reply(400, b'{"error": "unknown field"}'))
    _webhook(admin, hook, receiver.url, audiences=[audience])
    user = f"member-{tag}"
    assert collector.post("/v1/identify", json={"userId": user, "traits": {"tag": tag}}).is_success
    assert _until(lambda: bool(_deliveries(admin, destination=hook, status="dead")))
    [dead] = _deliveries(admin, destination=hook)
    detail = _ok(admin.get(f"/v1/deliveries/{dead['id']}"))
    assert detail["code"] == 400 and detail["kind"] == "audience"
    [letter] = detail["dead_letters"]
    assert letter["response"] == '{"error": "unknown field"}' and letter["replayed_at"] is None
    assert detail["payload"]["event"] == "Audience Entered"
    receiver.script(200)
    replayed = _ok(admin.post("/v1/deliveries/replay", json={"destination": hook}))
    assert replayed["replayed"] == [dead["id"]]
    assert _until(lambda: _deliveries(admin, destination=hook)[0]["status"] == "delivered")
    last = _bodies(receiver)[-1]
    assert last["data"]["audience"] == audience and last["data"]["traits"]["tag"] == tag
    assert _ok(admin.get(f"/v1/deliveries/{dead['id']}"))["dead_letters"][0]["replayed_at"]
    # The destination takes the audience: it may not be removed from under it.
    in_use = admin.delete(f"/v1/audiences/{audience}")
    assert in_use.status_code == 409 and hook in in_use.json()["message"]


def test_a_threshold_trigger_fires_once_when_the_trait_crosses_it(
    admin: httpx.Client, collector: httpx.Client, receiver: ScriptedServer
) -> None:
    """Lifetime value passing 1,000 fires the campaign once; staying above does not fire again."""
    tag = _tag()
    hook, campaign = f"vip_hook_{tag}", f"vip_{tag}"
    _webhook(admin, hook, receiver.url)
    _ok(admin.put(f"/v1/campaigns/{campaign}", json={
        "trigger": {"threshold": {"computed": "lifetime_value", "gte": 1000}},
        "message": {"body": "Welcome to VIP, {{ computed.lifetime_value }}"},
        "channel": "webhook", "channels": {"webhook": {"destination": hook}}}))  # fmt: skip
    assert f"campaign:{campaign}" not in {
        a["name"] for a in _ok(admin.get("/v1/audiences"))["audiences"]
    }  # the trigger's audience is the campaign's own, not listed
    user = f"vip-{tag}"
    for revenue in (600, 500):  # 1,100 after the second
        order = {"userId": user, "event": "Order Completed", "properties": {"revenue": revenue}}
        assert collector.post("/v1/track", json=order).status_code == 200
    profile_id = _profile_id(admin, user)
    assert _until(
        lambda: [d["status"] for d in _deliveries(admin, campaign=campaign)] == ["delivered"]
    )
    mine = [b for b in _bodies(receiver) if b["profile_id"] == profile_id]
    # Rendered when sent, with the value then.
    assert [b["data"]["body"] for b in mine] == ["Welcome to VIP, 1100.0"]
    order = {"userId": user, "event": "Order Completed", "properties": {"revenue": 300}}
    assert collector.post("/v1/track", json=order).status_code == 200
    audience = f"campaign:{campaign}"
    # Evaluated again (the change is recorded for the order) and still in: no second message.
    assert _until(lambda: admin.get(f"/v1/profiles/user_id:{user}").json()["computed_traits"]
                  .get("lifetime_value") == 1400)  # fmt: skip
    time.sleep(0.5)
    assert len(_deliveries(admin, campaign=campaign)) == 1
    members = _ok(admin.get(f"/v1/audiences/{audience}/members"))["members"]
    assert profile_id in {m["profile_id"] for m in members}


def test_a_birthday_fires_on_the_day_and_the_policy_chooses_and_holds_back(
    admin: httpx.Client, collector: httpx.Client, receiver: ScriptedServer
) -> None:
    """A date trigger (birthday today) through the batch evaluation that follows the
    declaration; the preferred channel is skipped for want of consent; a second campaign
    with a full holdout keeps everyone back, recorded as such."""
    tag = _tag()
    hook, sms_hook = f"bday_{tag}", f"bday_sms_{tag}"
    _webhook(admin, hook, receiver.url + "/email")
    _webhook(admin, sms_hook, receiver.url + "/sms", consent=["sms"])
    today = datetime.now(UTC).date()
    born = today.replace(year=1992)  # a leap year: 29 February too
    user = f"bday-{tag}"
    identify = {"userId": user, "traits": {
        "birthday": born.isoformat(),
        "email": f"{user}@x.example", "phone": "+447700900123", "preferred_channel": "sms"},
        "context": {"consent": {"categoryPreferences": {"sms": False}}}}  # fmt: skip
    assert collector.post("/v1/identify", json=identify).status_code == 200
    profile_id = _profile_id(admin, user)
    channels = {"email": {"destination": hook}, "sms": {"destination": sms_hook}}
    for name, holdout in ((f"bday_{tag}", 0), (f"bday_control_{tag}", 100)):
        _ok(admin.put(f"/v1/campaigns/{name}", json={
            "trigger": {"anniversary": {"trait": "birthday"}},
            "message": {"body": "Happy birthday"}, "channel": "preferred",
            "channels": channels, "holdout_percent": holdout}))  # fmt: skip

    def status_of(campaign: str) -> list[tuple[str, str | None]]:
        found = _deliveries(admin, campaign=campaign, profile_id=profile_id)
        return [(d["status"], d["channel"]) for d in found]

    assert _until(lambda: status_of(f"bday_{tag}") == [("delivered", "email")], 30)
    assert _until(lambda: status_of(f"bday_control_{tag}") == [("holdout", None)], 30)
    assert [r.path for r in receiver.requests if orjson.loads(r.body)["profile_id"] == profile_id
            ] == ["/email"]  # fmt: skip
    control = _ok(admin.get(f"/v1/campaigns/bday_control_{tag}"))
    assert control["messages"]["holdout"] >= 1


def test_declarations_are_checked_and_name_the_bad_field(
    server: LiveServer, admin: httpx.Client
) -> None:
    tag = _tag()
    bad_url = admin.put(f"/v1/destinations/d_{tag}", json={
        "kind": "webhook", "config": {"url": "ftp://x.example", "secret": SECRET}})  # fmt: skip
    assert bad_url.status_code == 400 and bad_url.json()["field"] == "config.url"
    unknown_kind = admin.put(f"/v1/destinations/d_{tag}", json={"kind": "pigeon", "config": {}})
    assert unknown_kind.json()["field"] == "kind"
    assert "webhook" in unknown_kind.json()["message"]
    config = {"url": "http://127.0.0.1:9/hook", "secret": SECRET,
              "headers": {"Authorization": "Bearer s"}}  # fmt: skip
    _ok(admin.put(f"/v1/destinations/d_{tag}", json={"kind": "webhook", "config": config}))
    shown = _ok(admin.get(f"/v1/destinations/d_{tag}"))
    assert shown["config"]["secret"] == "********"
    assert shown["config"]["headers"] == {"Authorization": "********"}
    assert SECRET not in admin.get("/v1/destinations").text
    kinds = {k["kind"] for k in _ok(admin.get("/v1/destinations/kinds"))["kinds"]}
    assert {"webhook", "email", "file", "segment"} <= kinds
    campaign = {"trigger": {"event": "X"}, "message": {"body": "hi"}, "channel": "email",
                "channels": {"email": {"destination": f"d_{tag}"}}}  # fmt: skip
    cases: list[tuple[dict[str, Any], str]] = [
        ({**campaign, "message": {"body": "{{ traits.x "}}, "message.body"),
        ({**campaign, "channel": "sms"}, "channel"),
        ({**campaign, "channels": {"email": {"destination": "nowhere"}}},
         "channels.email.destination"),
        ({**campaign, "exclude": ["no_such_audience"]}, "exclude[0]"),
        ({**campaign, "trigger": {"audience": "no_such_audience"}}, "trigger.audience"),
        ({**campaign, "trigger": {"threshold": {"computed": "x", "gte": "a"}}},
         "trigger.threshold.gte"),
        ({**campaign, "delay": "soon"}, "delay"),
        ({**campaign, "quiet_hours": {"start": "25:00", "end": "08:00"}}, "quiet_hours.start"),
        ({**campaign, "colour": "red"}, "colour"),
    ]  # fmt: skip
    for body, field in cases:
        refused = admin.put(f"/v1/campaigns/c_{tag}", json=body)
        assert refused.status_code == 400, (field, refused.text)
        assert refused.json()["field"] == field, refused.text
    _ok(admin.put(f"/v1/campaigns/c_{tag}", json=campaign))
    in_use = admin.delete(f"/v1/destinations/d_{tag}")
    assert in_use.status_code == 409
    _ok(admin.delete(f"/v1/campaigns/c_{tag}"))
    _ok(admin.delete(f"/v1/destinations/d_{tag}"))
    assert admin.get(f"/v1/destinations/d_{tag}").status_code == 404
    assert admin.get("/v1/deliveries", params={"status": "lost"}).status_code == 400
    # A token that reads profiles may not read or change activation.
    with reader(server, admin) as client:
        assert client.get("/v1/deliveries").status_code == 403
        assert client.put(f"/v1/campaigns/c_{tag}", json=campaign).status_code == 403


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as opened:
        return list(csv.DictReader(opened))


def test_a_file_destination_takes_a_snapshot_then_deltas(
    server: LiveServer, admin: httpx.Client, collector: httpx.Client
) -> None:
    tag = _tag()
    audience, files = f"snap_{tag}", f"files_{tag}"
    _ok(admin.put(f"/v1/audiences/{audience}", json={"condition": {"trait": "tag", "eq": tag}}))
    for n in (1, 2):
        identify = {"userId": f"snap-{tag}-{n}", "traits": {"tag": tag, "n": n}}
        assert collector.post("/v1/identify", json=identify).status_code == 200
    assert _until(lambda: _ok(admin.get(f"/v1/audiences/{audience}"))["size"] == 2)
    _ok(admin.put(f"/v1/destinations/{files}", json={
        "kind": "file", "config": {"folder": f"exports-{tag}", "format": "csv"},
        "audiences": [audience]}))  # fmt: skip
    written = _ok(admin.post(f"/v1/destinations/{files}/snapshot"))["files"]
    snapshot = Path(written[audience])
    assert snapshot.parent.parent.parent == server.db.parent / f"exports-{tag}"
    rows = _csv_rows(snapshot)
    assert sorted(r["traits.n"] for r in rows) == ["1", "2"]
    assert {r["audience"] for r in rows} == {audience}
    identify = {"userId": f"snap-{tag}-3", "traits": {"tag": tag, "n": 3}}
    assert collector.post("/v1/identify", json=identify).status_code == 200
    deltas = snapshot.parent.parent / "deltas"
    assert _until(lambda: deltas.exists() and any(deltas.glob("*.csv")))
    [delta] = [r for f in sorted(deltas.glob("*.csv")) for r in _csv_rows(f)]
    assert (delta["event"], delta["traits.n"]) == ("Audience Entered", "3")
    not_files = admin.post(f"/v1/destinations/{files}x/snapshot")
    assert not_files.status_code == 404
