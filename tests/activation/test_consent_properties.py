"""No send ever violates consent: property tests at two layers.

1. **The decisions**, on arbitrary facts. ``policy.choose_channel`` and
   ``policy.refused_consent`` over generated campaigns, destinations and people; then the
   dispatcher's and the senders' own decisions (``DeliveryService._decide_one`` and
   ``_at_send_time``, the service not started, on a real store holding the declarations),
   with exclusion audiences, quiet hours, frequency caps and holdouts besides. Whenever a
   send is decided, every category the campaign and the destination require is granted in
   the facts; and when they are all granted, consent is never the reason for not sending.
2. **End to end**, against a live server of this module's own, with a real SMTP server and a
   webhook receiver on loopback behind a gate (``gated_receivers.py``). A generated
   population (``consent_population.py``) states, changes and withdraws consent through
   events, on user profiles and on devices that sign in and merge into them with other
   choices, triggers a campaign on email and sends what a webhook takes (an event, an
   audience's changes); in each round the late statements come after the dispatcher has
   decided. Every message that reached a receiver was for a person whose every required
   category was granted when it was checked, by the test's own account of the statements and
   by the server's consent history at the delivery's time; the server's consent is the
   account's; who never granted got nothing; who granted throughout got what was owed.

The rule the oracles write out again (docs/profiles.md, privacy/consent.py): only a stated
``true`` grants; anything else, and no statement at all, refuses; ``necessary`` always holds.
"""

import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from itertools import product
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from kenning.activation.campaigns import PREFERRED, Campaign, parse_campaign
from kenning.activation.declared import DeclaredDestination, parse_destination
from kenning.activation.delivery import DeliveryService, DeliverySettings
from kenning.activation.destinations.base import Delivery, DestinationContext
from kenning.activation.destinations.smtp import message_id
from kenning.activation.outbox import PENDING, Scheduled
from kenning.activation.policy import choose_channel, refused_consent
from kenning.audiences.audience import parse_audience
from kenning.audiences.evaluate import Facts
from kenning.store.store import Store
from tests.activation.consent_population import (
    ALWAYS,
    CAMPAIGN_CONSENT,
    COHORT_TRAIT,
    HOOK_CONSENT,
    HOOK_REQUIRES,
    MAIL_CONSENT,
    MAIL_REQUIRES,
    NEVER,
    PING_EVENT,
    ROUNDS,
    TRIGGER_EVENT,
    WITHDRAWS,
    Account,
    Handle,
    Names,
    Pings,
    Population,
    Round,
    SignsIn,
    Standing,
    Triggers,
    populations,
)
from tests.activation.gated_receivers import Gate, gated_smtp, gated_webhook
from tests.api.test_audiences_api import _until
from tests.live import LiveServer

NECESSARY = "necessary"
CATEGORIES = (
    "marketing_email",
    "marketing_sms",
    "marketing_push",
    "advertising",
    "analytics",
    "personalisation",
    NECESSARY,
)
CHANNELS = ("email", "sms", "whatsapp", "push", "webhook")
# Where each channel's address is among a person's traits (docs/activation.md); a webhook
# needs none.
ADDRESS_TRAIT = {"email": "email", "sms": "phone", "whatsapp": "phone", "push": "push_token"}
EXCLUSIONS = ("bought_recently", "complained")
T0 = datetime(2026, 6, 1, tzinfo=UTC)

# Generous but bounded: the decisions are microseconds each.
DECISIONS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def granted(category: str, consent: Mapping[str, Any] | None) -> bool:
    """Whether the person grants ``category``: only a stated ``true``; ``necessary`` (which
    cannot be refused) always; an unknown person nothing."""
    if consent is None:
        return False
    return category == NECESSARY or consent.get(category) is True


def all_granted(categories: Sequence[str], consent: Mapping[str, Any] | None) -> bool:
    return all(granted(c, consent) for c in categories)


def reachable(channel: str, traits: Mapping[str, Any]) -> bool:
    trait = ADDRESS_TRAIT.get(channel)
    if trait is None:
        return True
    value = traits.get(trait)
    return isinstance(value, str) and bool(value.strip())


# -- what is generated ------------------------------------------------------------------------

category_lists = st.lists(st.sampled_from(CATEGORIES), max_size=3)
# A person's facts hold what was decided, true or false; a category left out is undecided.
choices = st.dictionaries(
    st.sampled_from(CATEGORIES), st.sampled_from([True, True, False]), max_size=len(CATEGORIES)
)
quiet_hours = st.builds(
    lambda start, end, zone: {"start": start, "end": end, "default_timezone": zone},
    st.sampled_from(["00:00", "13:00", "21:00", "23:30"]),
    st.sampled_from(["06:00", "08:00", "12:00", "22:00"]),
    st.sampled_from(["UTC", "Asia/Tokyo", "America/Los_Angeles"]),
)
caps = st.builds(
    lambda channel, most, per: (
        {"max": most, "per": per} | ({} if channel is None else {"channel": channel})
    ),
    st.none() | st.sampled_from(CHANNELS),
    st.integers(0, 3),
    st.sampled_from(["1d", "7d"]),
)
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)


@st.composite
def people(draw: st.DrawFn) -> Facts:
    """A person as the dispatcher reads them: addresses or not (a blank one is none), a
    preferred channel of any shape, a clock, consent, and the audiences they are in."""
    traits: dict[str, Any] = {"first_name": "Ada"}
    for trait, values in (
        ("email", ["ada@example.com", " "]),
        ("phone", ["+447700900123", ""]),
        ("push_token", ["tok-1"]),
    ):
        if draw(st.booleans()):
            traits[trait] = draw(st.sampled_from(values))
    preferred = draw(
        st.none()
        | st.sampled_from(CHANNELS)
        | st.lists(st.sampled_from(CHANNELS), max_size=3)
        | st.integers()
    )
    if preferred is not None:
        traits["preferred_channel"] = preferred
    zone = draw(st.none() | st.sampled_from(["Europe/London", "Asia/Tokyo", "Mars/Olympus"]))
    if zone is not None:
        traits["timezone"] = zone
    audiences = draw(st.sets(st.sampled_from([*EXCLUSIONS, "vip"])))
    return Facts(traits=traits, consent=draw(choices), audiences=frozenset(audiences))


@st.composite
def campaign_specs(draw: st.DrawFn, destinations: Sequence[str]) -> dict[str, Any]:
    channels = draw(st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=4, unique=True))
    return {
        "name": "offer",
        "trigger": {"event": "Signed Up"},
        "message": {"subject": "For {{ traits.first_name or 'you' }}", "body": "10% off"},
        "channel": draw(st.sampled_from([PREFERRED, *channels])),
        "channels": {c: {"destination": draw(st.sampled_from(destinations))} for c in channels},
        "consent": draw(category_lists),
        "exclude": draw(st.lists(st.sampled_from(EXCLUSIONS), max_size=2, unique=True)),
        "frequency_caps": draw(st.lists(caps, max_size=2)),
        "quiet_hours": draw(st.none() | quiet_hours),
        "holdout_percent": draw(st.sampled_from([0, 0, 10, 50, 100])),
    }


def destination(name: str, consent: Sequence[str], enabled: bool = True) -> DeclaredDestination:
    spec = {"name": name, "kind": "webhook", "config": {}, "consent": list(consent)}
    return parse_destination({**spec, "enabled": enabled})


@st.composite
def destination_maps(draw: st.DrawFn) -> dict[str, DeclaredDestination]:
    names = draw(st.lists(st.sampled_from(["d1", "d2", "d3", "d4"]), min_size=1, unique=True))
    return {n: destination(n, draw(category_lists), draw(st.booleans())) for n in names}


# -- layer 1: the policy's functions ----------------------------------------------------------

CONSENT_REASON = re.compile(r"(\w+): consent (\w+) not granted")


@DECISIONS
@given(st.data())
def test_a_channel_is_chosen_only_when_every_category_it_requires_is_granted(
    data: st.DataObject,
) -> None:
    destinations = data.draw(destination_maps())
    # "gone" is a destination no longer declared: that channel is off.
    campaign = parse_campaign(data.draw(campaign_specs([*destinations, "gone"])))
    person = data.draw(people())
    spec = campaign.spec

    def required(channel: str) -> list[str]:
        through = destinations[spec.channels[channel].destination]
        return [*spec.consent, *through.consent]

    chosen = choose_channel(campaign, person, destinations)
    if not isinstance(chosen, str):
        channel, through = chosen
        assert through is destinations[spec.channels[channel].destination]
        assert through.enabled and reachable(channel, person.traits)
        assert all_granted(required(channel), person.consent), (channel, person.consent)
        return
    tried = list(spec.channels) if spec.channel == PREFERRED else [spec.channel]
    named = dict(CONSENT_REASON.findall(chosen))
    for channel in tried:
        declared = destinations.get(spec.channels[channel].destination)
        if declared is None or not declared.enabled:
            continue
        if all_granted(required(channel), person.consent):
            # Granted: consent is not why; so only reachability can be.
            assert channel not in named, chosen
            assert not reachable(channel, person.traits), chosen
        elif reachable(channel, person.traits):
            assert channel in named, chosen
            assert named[channel] in required(channel), chosen
            assert not granted(named[channel], person.consent), chosen


@DECISIONS
@given(st.lists(st.sampled_from(CATEGORIES), max_size=5), choices, st.booleans())
def test_consent_is_refused_exactly_when_a_required_category_is_not_granted(
    categories: list[str], consent: dict[str, bool], known: bool
) -> None:
    person = Facts(consent=consent) if known else None
    not_granted = [c for c in categories if not granted(c, consent if known else None)]
    assert refused_consent(categories, person) == (not_granted[0] if not_granted else None)


# -- layer 1: the dispatcher's and the senders' decisions -------------------------------------

# Destinations as declared in the store: name -> (consent, enabled).
POOL = {
    "open": ((), True),
    "email_marketing": (("marketing_email",), True),
    "email_profiled": (("marketing_email", "personalisation"), True),
    "ads": (("advertising", "analytics"), True),
    "necessary_only": ((NECESSARY,), True),
    "switched_off": (("marketing_sms",), False),
}
# Campaigns as declared, for the senders (which look a message's campaign up when sending).
DECLARED_CAMPAIGNS = [
    {
        "name": f"declared_{n}",
        "trigger": {"event": "Signed Up"},
        "message": {"body": "hi"},
        "channel": PREFERRED if len(channels) > 1 else next(iter(channels)),
        "channels": {c: {"destination": d} for c, d in channels.items()},
        "consent": list(consent),
        "exclude": list(exclude),
    }
    for n, (consent, channels, exclude) in enumerate(
        product(
            [(), ("marketing_email",), ("personalisation", "marketing_email"), (NECESSARY,)],
            [
                {"email": "email_marketing", "webhook": "ads"},
                {"sms": "switched_off", "email": "open"},
                {"push": "necessary_only"},
            ],
            [(), EXCLUSIONS[:1]],
        )
    )
]

DECLARED_CAMPAIGN_NAMES = [str(spec["name"]) for spec in DECLARED_CAMPAIGNS]


@dataclass(frozen=True)
class Decider:
    """A delivery service on a real store, never started: its decisions, not its threads.
    ``_decide_one`` (the dispatcher, per message) and ``_at_send_time`` (a sender, per
    attempt) are where sends are decided; everything else around them reads or records."""

    store: Store
    service: DeliveryService

    def destinations(self) -> Mapping[str, DeclaredDestination]:
        return self.store.activation.destinations

    def campaign(self, name: str) -> Campaign:
        return self.store.activation.campaigns[name]


def _in_writer(store: Store, job: Any) -> None:
    store.writer.run(job, changes_stages=True).result()


@pytest.fixture(scope="module")
def decider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Decider]:
    with Store.open(tmp_path_factory.mktemp("decisions") / "kenning.duckdb") as store:
        for name in EXCLUSIONS:
            audience = parse_audience({"name": name, "condition": {"trait": name, "eq": True}})
            _in_writer(store, lambda con, a=audience: store.audiences.declare(con, a))
        for name, (consent, enabled) in POOL.items():
            declared = destination(name, consent, enabled)
            _in_writer(store, lambda con, d=declared: store.activation.declare_destination(con, d))
        for spec in DECLARED_CAMPAIGNS:
            campaign = parse_campaign(spec)
            _in_writer(store, lambda con, c=campaign: store.activation.declare_campaign(con, c))
        service = DeliveryService(store, store.activation, DeliverySettings(), DestinationContext())
        yield Decider(store, service)


def due_message(campaign: str, profile_id: int, now: datetime) -> Scheduled:
    trigger = {"kind": "event", "event": {"type": "track", "event": "Signed Up"}}
    return Scheduled(1, f"campaign:{campaign}:event:1", campaign, profile_id, trigger, now)


@st.composite
def sent_counts(
    draw: st.DrawFn, campaign: Campaign, profile_id: int
) -> dict[tuple[int, str, timedelta], int]:
    """What the person was already sent within each of the campaign's cap periods."""
    return {
        (profile_id, cap.channel or "", cap.period): draw(st.integers(0, 4))
        for cap in campaign.spec.frequency_caps
    }


@DECISIONS
@given(data=st.data())
def test_the_dispatcher_decides_a_send_only_when_every_category_is_granted(
    decider: Decider, data: st.DataObject
) -> None:
    """Holdouts, exclusions, quiet hours and caps come first or after; whatever they decide,
    a message is given a destination only when the campaign's and that destination's every
    category is granted, and consent is never the reason when all of them are."""
    campaign = parse_campaign(data.draw(campaign_specs([*POOL, "gone"])))
    profile_id = data.draw(st.integers(1, 10_000))
    person = data.draw(people())
    now = data.draw(moments)
    sent = data.draw(sent_counts(campaign, profile_id))
    decision = decider.service._decide_one(
        campaign, due_message(campaign.name, profile_id, now), person, sent, now
    )
    declared = decider.destinations()
    if decision.status == PENDING:
        assert decision.channel is not None
        assert decision.destination == campaign.spec.channels[decision.channel].destination
        required = [*campaign.spec.consent, *declared[decision.destination].consent]
        assert all_granted(required, person.consent), (decision, person.consent)
    every = [*campaign.spec.consent]
    for channel in campaign.spec.channels.values():
        if channel.destination in declared:
            every += declared[channel.destination].consent
    if all_granted(every, person.consent):
        assert "consent" not in (decision.detail or ""), decision


@DECISIONS
@given(data=st.data())
def test_a_sender_sends_only_what_every_category_allows_at_send_time(
    decider: Decider, data: st.DataObject
) -> None:
    """A message as the dispatcher decided it (on the person then), an audience change or an
    event, checked by the sender on the person now (their consent may have changed since, or
    they may be gone): sent only when the destination's every category, and a message's
    campaign's, is granted now."""
    kind = data.draw(st.sampled_from(["message", "audience", "event"]))
    profile_id = data.draw(st.none() | st.integers(1, 10_000))
    now = data.draw(moments)
    enabled = [name for name, (_, on) in POOL.items() if on]
    through = data.draw(st.sampled_from(enabled))
    required: list[str] = []
    payload: dict[str, Any] = {"event": "Audience Entered", "audience": "vip"}
    if kind == "message":
        campaign = decider.campaign(data.draw(st.sampled_from(DECLARED_CAMPAIGN_NAMES)))
        required += campaign.spec.consent
        decision = decider.service._decide_one(
            campaign,
            due_message(campaign.name, profile_id or 1, now),
            data.draw(people()),
            {},
            now,
        )
        if decision.status == PENDING:
            assert decision.payload is not None
            through, payload = decision.destination, dict(decision.payload)
        else:  # the sender must hold whatever reaches it
            payload = {"campaign": campaign.name, "channel": "email", "body": "hi", "to": {}}
    declared = decider.destinations()[through]
    required += declared.consent
    person = data.draw(st.none() | people())
    facts = {} if person is None or profile_id is None else {profile_id: person}
    delivery = Delivery(1, "key-1", through, profile_id, kind, payload, now)
    refusal, _ = decider.service._at_send_time(delivery, declared, facts)
    consent = None if profile_id is None or person is None else person.consent
    if refusal is None:
        assert all_granted(required, consent), (kind, required, consent)
    elif all_granted(required, consent):
        assert "consent" not in refusal, refusal


def test_a_message_of_a_removed_campaign_is_not_sent_once_its_consent_is_withdrawn(
    decider: Decider,
) -> None:
    """The dispatcher gives the message its channel while marketing by email is granted;
    then the campaign is removed (its messages with a channel stay queued) and the person
    withdraws: the category the message was decided under no longer holds at send time."""
    store = decider.store
    campaign = parse_campaign(
        {
            "name": "leaving",
            "trigger": {"event": "Signed Up"},
            "message": {"body": "hi"},
            "channel": "email",
            "channels": {"email": {"destination": "open"}},
            "consent": ["marketing_email"],
        }
    )
    _in_writer(store, lambda con: store.activation.declare_campaign(con, campaign))
    email = {"email": "ada@example.com"}
    decision = decider.service._decide_one(
        campaign,
        due_message("leaving", 7, T0),
        Facts(traits=email, consent={"marketing_email": True}),
        {},
        T0,
    )
    assert (decision.status, decision.destination) == (PENDING, "open")
    assert decision.payload is not None
    _in_writer(store, lambda con: store.activation.remove_campaign(con, "leaving"))
    withdrawn = Facts(traits=email, consent={"marketing_email": False})
    message = Delivery(1, "key-1", "open", 7, "message", dict(decision.payload), T0)
    refusal, _ = decider.service._at_send_time(
        message, decider.destinations()["open"], {7: withdrawn}
    )
    assert refusal is not None


# -- layer 2: end to end ----------------------------------------------------------------------

SECRET = "a-secret-of-16-chars"
MAIL_DOMAIN = "consent.example"
COHORT = "probe_cohort_in"
CAMPAIGN = "consent_probe"
# Retries in tenths of a second, so that a delivery held back by the gate is tried again soon
# after it opens; polls as often, for the same reason.
FAST_RETRIES = """
activation:
  first_retry_seconds: 0.1
  longest_wait_seconds: 0.4
  poll_seconds: 0.1
"""
LIVE = settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    # A failing example is reported as drawn: shrinking would replay a server's worth of
    # rounds per step.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def gate() -> Gate:
    return Gate()


@pytest.fixture(scope="module")
def kenning(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of this module's own, on its own store."""
    folder = tmp_path_factory.mktemp("consent")
    config = folder / "kenning.yaml"
    config.write_text(FAST_RETRIES)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KENNING_CONFIG", str(config))
        live = LiveServer(folder / "kenning.duckdb").start()
    yield live
    live.stop()


@dataclass(frozen=True)
class Probe:
    admin: httpx.Client
    collector: httpx.Client
    gate: Gate


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def probe(kenning: LiveServer, gate: Gate) -> Iterator[Probe]:
    """The declarations the population is sent under: a campaign on email (consent
    marketing_email) through an SMTP destination (consent personalisation), and a webhook
    (consent analytics and advertising) taking an audience's changes and an event."""
    key = kenning.create_source("consent-probe")
    with (
        gated_smtp(gate) as smtp_port,
        gated_webhook(gate) as webhook_url,
        kenning.admin() as admin,
        httpx.Client(base_url=kenning.url, auth=(key, ""), timeout=30) as collector,
    ):
        condition = {"trait": COHORT_TRAIT, "eq": "in"}
        _ok(admin.put(f"/v1/audiences/{COHORT}", json={"condition": condition}))
        smtp = {"host": "127.0.0.1", "port": smtp_port, "from": f"shop@{MAIL_DOMAIN}"}
        mail = {"kind": "email", "config": smtp, "consent": list(MAIL_CONSENT)}
        _ok(admin.put("/v1/destinations/mail", json=mail))
        hook = {
            "kind": "webhook",
            "config": {"url": webhook_url, "secret": SECRET},
            "consent": list(HOOK_CONSENT),
            "audiences": [COHORT],
            "events": {"names": [PING_EVENT]},
        }
        _ok(admin.put("/v1/destinations/hook", json=hook))
        campaign = {
            "trigger": {"event": TRIGGER_EVENT},
            "message": {"subject": "Hello {{ traits.first_name }}", "body": "An offer"},
            "channel": "email",
            "channels": {"email": {"destination": "mail"}},
            "consent": list(CAMPAIGN_CONSENT),
        }
        _ok(admin.put(f"/v1/campaigns/{CAMPAIGN}", json=campaign))
        yield Probe(admin, collector, gate)


def _post(collector: httpx.Client, messages: list[dict[str, Any]]) -> None:
    if messages:
        answer = _ok(collector.post("/v1/batch", json={"batch": messages}))
        assert (answer["accepted"], answer["rejected"]) == (len(messages), []), answer


def _deliveries_after(admin: httpx.Client, after_id: int) -> list[dict[str, Any]]:
    """The delivery log's rows with a higher id than ``after_id``."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 1000}
    while True:
        page = _ok(admin.get("/v1/deliveries", params=params))
        for delivery in page["deliveries"]:
            if delivery["id"] <= after_id:
                return found
            found.append(delivery)
        if page["next_cursor"] is None:
            return found
        params["cursor"] = page["next_cursor"]


def _newest_delivery_id(admin: httpx.Client) -> int:
    newest = _ok(admin.get("/v1/deliveries", params={"limit": 1}))["deliveries"]
    return int(newest[0]["id"]) if newest else 0


def _none_with(admin: httpx.Client, status: str) -> bool:
    page = _ok(admin.get("/v1/deliveries", params={"status": status, "limit": 1}))
    return not page["deliveries"]


def _none_scheduled(admin: httpx.Client) -> bool:
    return _none_with(admin, "scheduled")


def _none_waiting(admin: httpx.Client) -> bool:
    return _none_with(admin, "scheduled") and _none_with(admin, "pending")


def _members(admin: httpx.Client) -> set[int]:
    found: set[int] = set()
    params: dict[str, Any] = {"limit": 1000}
    while True:
        page = _ok(admin.get(f"/v1/audiences/{COHORT}/members", params=params))
        found |= {m["profile_id"] for m in page["members"]}
        if page["next_cursor"] is None:
            return found
        params["cursor"] = page["next_cursor"]


def _settle(admin: httpx.Client, names: Names, account: Account) -> None:
    """Wait until the audience holds whom the account says (its changes are owed with the
    membership, after the commit that caused them), then until nothing is scheduled or
    pending: every delivery this round owes has been decided, suppressed or accepted."""
    user_profiles = {}
    for person in account.cohort:
        found = _ok(admin.get(f"/v1/profiles/{names.identifier(Handle(person))}"))
        user_profiles[person] = int(found["profile_id"])

    def settled() -> bool:
        members = _members(admin)
        if any((user_profiles[p] in members) != joined for p, joined in account.cohort.items()):
            return False
        return _none_waiting(admin)

    assert _until(settled, 120), "the server did not settle"


def consent_at(history: Sequence[Mapping[str, Any]], moment: datetime) -> dict[str, bool]:
    """The consent a person's history (oldest change first) shows at ``moment``."""
    state: dict[str, bool] = {}
    for change in history:
        if datetime.fromisoformat(change["at"]) <= moment:
            state[change["category"]] = change["granted"]
    return state


@dataclass
class ServerReads:
    """What one round's check reads from the server, each thing once."""

    admin: httpx.Client
    names: Names
    _people: dict[int, frozenset[Handle]] = field(default_factory=dict)
    _consent: dict[frozenset[Handle], dict[str, Any]] = field(default_factory=dict)

    def handles(self, profile_id: int) -> frozenset[Handle]:
        """The handles merged into the profile now (a merged-away id leads to its person)."""
        if profile_id not in self._people:
            found = _ok(self.admin.get(f"/v1/profiles/profile_id:{profile_id}/identities"))
            handles = (self.names.handle_of(i["type"], i["value"]) for i in found["identities"])
            self._people[profile_id] = frozenset(h for h in handles if h is not None)
        return self._people[profile_id]

    def consent(self, component: frozenset[Handle]) -> dict[str, Any]:
        if component not in self._consent:
            identifier = self.names.identifier(min(component))
            self._consent[component] = _ok(self.admin.get(f"/v1/profiles/{identifier}/consent"))
        return self._consent[component]


@dataclass
class Received:
    """What reached the receivers over an example, per person."""

    emails: dict[int, int] = field(default_factory=dict)
    hooked: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PlayedRound:
    actions: Round
    phase: int
    at_main: dict[Handle, Standing]
    at_late: dict[Handle, Standing]
    cohort_before: dict[int, bool]
    deliveries: list[dict[str, Any]]


def _check_round(
    probe: Probe,
    names: Names,
    account: Account,
    round_index: int,
    round_: PlayedRound,
    received: Received,
) -> None:
    at_main, at_late, new = round_.at_main, round_.at_late, round_.deliveries
    reads = ServerReads(probe.admin, names)
    accepted = probe.gate.accepted(round_.phase)
    emails = [a for a in accepted if isinstance(a.body, EmailMessage)]
    envelopes = [a for a in accepted if not isinstance(a.body, EmailMessage)]

    # Every message that reached a receiver was for a person whose every required category
    # was granted when it was checked: after this round's last statement (the gate).
    emails_to: dict[int, int] = {}
    for email in emails:
        person = names.person_of_email(str(email.body["To"]))
        assert person is not None, email.body["To"]
        standing = at_late[Handle(person)]
        assert standing.grants(MAIL_REQUIRES), (person, standing)
        emails_to[person] = emails_to.get(person, 0) + 1
        received.emails[person] = received.emails.get(person, 0) + 1
    forwarded: set[str] = set()
    entered_or_exited: set[tuple[frozenset[Handle], str]] = set()
    for envelope in envelopes:
        component = reads.handles(envelope.body["profile_id"])
        assert component, envelope.body
        standing = at_late[min(component)]
        assert standing.component == component, (standing, component)
        assert standing.grants(HOOK_REQUIRES), (envelope.body, standing)
        person = min(component).person
        received.hooked[person] = received.hooked.get(person, 0) + 1
        data = envelope.body["data"]
        if envelope.body["kind"] == "event":
            forwarded.add(data["messageId"])
        else:
            entered_or_exited.add((component, data["event"]))

    # The server's log says the same: what it delivered is what was received, each with
    # every category granted in the person's consent history at the time it was delivered;
    # and its consent for each person is the account's.
    delivered = [d for d in new if d["status"] == "delivered"]
    assert not [d for d in new if d["status"] == "dead"], new
    assert {message_id(d["idempotency_key"], MAIL_DOMAIN) for d in delivered
            if d["destination"] == "mail"} == {e.key for e in emails}  # fmt: skip
    assert {d["idempotency_key"] for d in delivered if d["destination"] == "hook"} == {
        e.key for e in envelopes
    }
    for handle, standing in at_late.items():
        stated = reads.consent(standing.component)["consent"]
        assert {c: v["granted"] for c, v in stated.items()} == standing.consent, handle
    for delivery in delivered:
        component = reads.handles(delivery["profile_id"])
        history = reads.consent(component)["history"]
        at = datetime.fromisoformat(delivery["finished_at"])
        required = MAIL_REQUIRES if delivery["destination"] == "mail" else HOOK_REQUIRES
        state = consent_at(history, at)
        assert all(state.get(c) is True for c in required), (delivery, history)

    # And what had to go went. The dispatcher decided every message on the main batch's
    # state (the test waited for it before the late batch); the sender let it through on
    # the late batch's. So a person with an email is sent one message per trigger exactly
    # when both grant, and none otherwise.
    main = round_.actions.main
    for person, about in enumerate(names.population.people):
        user = Handle(person)
        triggers = sum(1 for a in main if isinstance(a, Triggers) and a.person == person)
        throughout = at_main[user].grants(MAIL_REQUIRES) and at_late[user].grants(MAIL_REQUIRES)
        owed = triggers if about.has_email and throughout else 0
        assert emails_to.get(person, 0) == owed, (person, owed, at_main[user], at_late[user])
    # A forwarded event and an audience change were checked on either state (the sender's
    # first attempt may come before or after the late batch): owed when both grant.
    for index, action in enumerate(main):
        if isinstance(action, Pings):
            key = names.message_id(round_index, "main", index)
            if at_main[action.handle].grants(HOOK_REQUIRES) and at_late[action.handle].grants(
                HOOK_REQUIRES
            ):
                assert key in forwarded, (action, at_main[action.handle])
    signed_in = {a.device.person for a in (*main, *round_.actions.late) if isinstance(a, SignsIn)}
    for person, joined in account.cohort.items():
        user = Handle(person)
        if round_.cohort_before.get(person, False) == joined or person in signed_in:
            continue
        if at_main[user].grants(HOOK_REQUIRES) and at_late[user].grants(HOOK_REQUIRES):
            event = "Audience Entered" if joined else "Audience Exited"
            assert (at_late[user].component, event) in entered_or_exited, (person, event)


@LIVE
@given(population=populations())
def test_no_send_reaches_anyone_whose_consent_does_not_hold_when_it_is_sent(
    probe: Probe, population: Population
) -> None:
    names = Names(uuid.uuid4().hex[:10], population)
    account = Account(population)
    received = Received()
    last_id = _newest_delivery_id(probe.admin)
    for round_index, actions in enumerate(population.rounds):
        cohort_before = dict(account.cohort)
        probe.gate.close()
        _post(probe.collector, names.messages(actions.main, round_index, "main"))
        for action in actions.main:
            account.apply(action)
        at_main = account.standing()
        # Every message is given its channel (or none) before the late statements: these
        # come after the dispatcher's decision, and only the sender's check can stop a send.
        assert _until(lambda: _none_scheduled(probe.admin), 60), "messages left undecided"
        _post(probe.collector, names.messages(actions.late, round_index, "late"))
        for action in actions.late:
            account.apply(action)
        at_late = account.standing()
        phase = probe.gate.open()
        _settle(probe.admin, names, account)
        new = _deliveries_after(probe.admin, last_id)
        last_id = max([last_id, *(d["id"] for d in new)])
        played = PlayedRound(actions, phase, at_main, at_late, cohort_before, new)
        _check_round(probe, names, account, round_index, played, received)
    # Who never granted a category got nothing that needs it.
    for person in range(len(population.people)):
        ever = account.ever_granted(person)
        if not set(MAIL_REQUIRES) <= ever:
            assert received.emails.get(person, 0) == 0, person
        if not set(HOOK_REQUIRES) <= ever:
            assert received.hooked.get(person, 0) == 0, person
    # The controls: one message a round for who grants everything, and a forwarded event
    # besides; nothing for who never said, nor for who withdrew after each trigger.
    assert received.emails.get(ALWAYS, 0) == ROUNDS
    assert received.hooked.get(ALWAYS, 0) >= ROUNDS
    for person in (NEVER, WITHDRAWS):
        assert (received.emails.get(person, 0), received.hooked.get(person, 0)) == (0, 0)


def test_a_removed_campaigns_message_does_not_reach_someone_who_withdrew(probe: Probe) -> None:
    """The live reproduction of the test above: the message is given its channel while the
    person grants every category; the campaign is removed while the message waits for a
    retry (the SMTP server answers 451); the person withdraws marketing by email; the
    message is delivered all the same."""
    tag = uuid.uuid4().hex[:10]
    campaign, user, email = f"leaving_{tag}", f"{tag}-leaver", f"{tag}-leaver@{MAIL_DOMAIN}"
    _ok(probe.admin.put(f"/v1/campaigns/{campaign}", json={
        "trigger": {"event": f"Left {tag}"}, "message": {"subject": "Bye", "body": "Bye"},
        "channel": "email", "channels": {"email": {"destination": "mail"}},
        "consent": list(CAMPAIGN_CONSENT)}))  # fmt: skip
    probe.gate.close()
    every = dict.fromkeys(MAIL_REQUIRES, True)
    _post(probe.collector, [
        {"type": "identify", "userId": user, "traits": {"email": email},
         "context": {"consent": {"categoryPreferences": every}}},
        {"type": "track", "userId": user, "event": f"Left {tag}"}])  # fmt: skip

    def given_its_channel() -> bool:
        found = _ok(probe.admin.get("/v1/deliveries", params={"campaign": campaign}))
        return [d["status"] for d in found["deliveries"]] == ["pending"]

    assert _until(given_its_channel, 60)
    _ok(probe.admin.delete(f"/v1/campaigns/{campaign}"))
    withdrawn = {"categoryPreferences": {CAMPAIGN_CONSENT[0]: False}}
    _post(probe.collector, [{"type": "track", "userId": user, "event": "Consent Updated",
                             "context": {"consent": withdrawn}}])  # fmt: skip
    phase = probe.gate.open()
    assert _until(lambda: _none_waiting(probe.admin), 60)
    reached = [a.body["To"] for a in probe.gate.accepted(phase) if isinstance(a.body, EmailMessage)]
    assert email not in reached
