"""The delivery service: threads beside the writer that empty the outbox.

A **dispatcher** takes campaign messages whose time has come, reads each person as they are
now and applies the contact policy (``policy.py``): holdout, exclusion audiences, frequency
caps, quiet hours (the message waits for their end), channel choice under consent and
reachability; then renders the templates. Its decisions are recorded in a writer job.

A **sender** per destination takes what may be sent now, in per-profile order, checks consent
(and, for a campaign's message, its exclusion audiences) once more at send time, sends a
batch, and records each attempt in a writer job. A retryable failure (5xx, 408, 429, a timeout)
waits ``first_retry_seconds * 2**(n-1)`` (at most ``longest_wait_seconds``), half of it
jittered, or what ``Retry-After`` asks if longer, until ``retry_horizon_hours`` after the
delivery was owed; then, like any other refusal, it goes to the dead letters, replayable.

Delivery is at least once: a crash between a send and its record sends it again, with the
same idempotency key. Nothing here runs in the ingest transaction, so a slow or dead
destination never slows ingest: its queue just grows.
"""

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb

from kenning.activation import policy
from kenning.activation.campaigns import Campaign
from kenning.activation.declared import DeclaredDestination
from kenning.activation.destinations.base import (
    NOT_ATTEMPTED_ORDER,
    NOT_ATTEMPTED_UNREACHABLE,
    Delivery,
    Destination,
    DestinationContext,
    Outcome,
)
from kenning.activation.destinations.registry import create
from kenning.activation.outbox import (
    DEAD,
    DELIVERED,
    HOLDOUT,
    PENDING,
    SCHEDULED,
    SUPPRESSED,
    Attempted,
    Decision,
    Scheduled,
    decide,
    due_for,
    lowest_open_id,
    record,
    scheduled_due,
)
from kenning.activation.stage import ActivationStage
from kenning.activation.templates import TemplateError, render
from kenning.audiences.evaluate import Facts
from kenning.audiences.membership import current_ids, people_now

if TYPE_CHECKING:  # the store runs the service
    from kenning.store.store import Store

log = logging.getLogger(__name__)
NOT_ATTEMPTED = "not attempted"


@dataclass(frozen=True)
class DeliverySettings:
    retry_horizon_hours: float = 4.0
    first_retry_seconds: float = 2.0
    longest_wait_seconds: float = 1_800.0
    batch_size: int = 100
    poll_seconds: float = 1.0
    # Deliveries of different people a destination's sender has in flight at once.
    concurrency: int = 8

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> "DeliverySettings":
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ValueError(f"activation: unknown keys {', '.join(unknown)}")
        values = {k: section[k] for k in known if k in section}
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"activation.{key}: a positive number")
        settings = cls(**values)
        if settings.retry_horizon_hours < 4:
            log.warning("activation.retry_horizon_hours is under 4 hours")
        return settings


def retry_wait(
    attempt: int, settings: DeliverySettings, retry_after: float | None, rng: random.Random
) -> float:
    """Seconds before attempt ``attempt + 1``: exponential, half of it jittered so that many
    deliveries failing together do not come back together; at least what ``Retry-After``
    asked."""
    ceiling = min(settings.longest_wait_seconds, settings.first_retry_seconds * 2 ** (attempt - 1))
    wait = ceiling / 2 + rng.uniform(0, ceiling / 2)
    return float(max(wait, retry_after or 0.0))


def settle(
    delivery: Delivery,
    outcome: Outcome,
    now: datetime,
    settings: DeliverySettings,
    rng: random.Random,
    milliseconds: float,
) -> Attempted:
    """What an attempt's outcome makes of its delivery."""
    base = Attempted(
        id=delivery.id,
        destination=delivery.destination,
        attempt=delivery.attempt,
        attempt_status=outcome.status,
        status=DELIVERED,
        code=outcome.code,
        detail=outcome.detail,
        at=now,
        milliseconds=milliseconds,
    )
    if outcome.status == "delivered":
        return base
    if outcome.status == "failed":
        return replace(base, status=DEAD, response=outcome.response)
    if outcome.detail in (NOT_ATTEMPTED_ORDER, NOT_ATTEMPTED_UNREACHABLE):
        return replace(
            base,
            attempt=delivery.attempt - 1,
            attempt_status=NOT_ATTEMPTED,
            status=PENDING,
            next_attempt_at=now,
        )
    wait = retry_wait(delivery.attempt, settings, outcome.retry_after, rng)
    retry_at = now + timedelta(seconds=wait)
    horizon = delivery.created_at + timedelta(hours=settings.retry_horizon_hours)
    if retry_at > horizon:
        detail = f"gave up after {delivery.attempt} attempts: {outcome.detail}"
        return replace(base, status=DEAD, detail=detail, response=outcome.response)
    return replace(base, status=PENDING, next_attempt_at=retry_at)


class DeliveryService:
    def __init__(
        self,
        store: "Store",
        stage: ActivationStage,
        settings: DeliverySettings,
        context: DestinationContext,
    ) -> None:
        self._store = store
        self._stage = stage
        self.settings = settings
        self.context = context
        self._stop = threading.Event()
        self._dispatch_wanted = threading.Event()
        self._senders: dict[str, _Sender] = {}
        self._lock = threading.Lock()
        self._low = 0  # no open row has a lower id (outbox.lowest_open_id)
        self._replays = 0
        self._low_lock = threading.Lock()
        self._rng = random.Random()
        self._dispatcher: threading.Thread | None = None
        stage.on_owed.append(self.owed)
        stage.on_reloaded.append(self.sync)

    # -- running -----------------------------------------------------------------------------

    def start(self) -> None:
        self._dispatcher = threading.Thread(
            target=self._dispatch_loop, name="kenning-dispatch", daemon=True
        )
        self._dispatcher.start()
        self.sync()

    def stop(self) -> None:
        self._stop.set()
        self._dispatch_wanted.set()
        if self._dispatcher is not None:
            self._dispatcher.join()
        with self._lock:
            senders, self._senders = list(self._senders.values()), {}
        for sender in senders:
            sender.stop()

    def sync(self) -> None:
        """Senders for the enabled destinations as declared now (after a declaration)."""
        wanted = {n: d for n, d in self._stage.destinations.items() if d.enabled}
        with self._lock:
            stale = [s for n, s in self._senders.items() if wanted.get(n) != s.declared]
            for sender in stale:
                del self._senders[sender.declared.name]
            if self._dispatcher is not None and not self._stop.is_set():
                for name, declared in wanted.items():
                    if name not in self._senders:
                        sender = _Sender(self, declared)
                        self._senders[name] = sender
                        sender.start()
        for sender in stale:
            # Not waited for: sync runs on the writer thread (after a declaration commits),
            # and a sender may be waiting for the writer to record its last batch.
            sender.stop(wait=False)

    def owed(self, destinations: set[str], scheduled: bool) -> None:
        """``ActivationStage.on_owed``: wake whoever has work."""
        if scheduled:
            self._dispatch_wanted.set()
        with self._lock:
            for name in destinations:
                sender = self._senders.get(name)
                if sender is not None:
                    sender.wanted.set()

    def replayed(self) -> None:
        """Dead rows were put back in the queue: they have lower ids than the open ones."""
        with self._low_lock:
            self._low, self._replays = 0, self._replays + 1
        self.owed(set(self._stage.destinations), True)

    def low(self) -> int:
        """No open row has a lower id (ids only grow and a finished row stays so, except
        through a replay, which starts the search again)."""
        with self._low_lock:
            above, replays = self._low, self._replays
        with self._store.reader() as con:
            found = lowest_open_id(con, above)
        with self._low_lock:
            if replays == self._replays:  # else a replay just lowered it: keep that
                self._low = max(self._low, found)
        return found

    # -- the dispatcher ----------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            self._dispatch_wanted.wait(timeout=self.settings.poll_seconds)
            self._dispatch_wanted.clear()
            if self._stop.is_set():
                return
            try:
                while self.dispatch_once() == self.settings.batch_size:
                    pass
            except Exception:
                log.exception("dispatching campaign messages failed; retried in 5 s")
                self._stop.wait(5)

    def dispatch_once(self) -> int:
        """Decide the campaign messages now due (a batch); returns how many."""
        now = datetime.now(UTC)
        with self._store.reader() as con:
            due = scheduled_due(con, now, self.low(), self.settings.batch_size)
            if not due:
                return 0
            facts = self._facts(
                con,
                [s.profile_id for s in due if s.profile_id is not None],
                now,
                audiences=self._excludes(s.campaign for s in due),
            )
            sent = _sent_counts(con, due, self._stage.campaigns, now)
        decisions = self._decide(due, facts, sent, now)
        self._store.writer.run(lambda con: decide(con, decisions, now)).result()
        self.owed({d.destination for d in decisions if d.status == PENDING}, False)
        return len(due)

    def _facts(
        self,
        con: duckdb.DuckDBPyConnection,
        ids: Sequence[int],
        now: datetime,
        *,
        audiences: bool,
    ) -> dict[int, Facts]:
        """Each profile id's person as they are now (merged-away ids read their profile);
        with ``audiences``, their audiences evaluated afresh (for exclusions: it costs every
        audience's condition a person, so only when some exclusion is to be checked)."""
        current = current_ids(con, ids)
        people = people_now(
            con,
            sorted(set(current.values())),
            list(self._store.audiences.audiences) if audiences else [],
            self._store.computed.definitions.values(),
            now,
        )
        return {i: people[c] for i, c in current.items() if c in people}

    def _excludes(self, campaigns: Iterable[str]) -> bool:
        """Whether any of these campaigns has exclusion audiences to check."""
        found = (self._stage.campaigns.get(name) for name in campaigns)
        return any(c is not None and c.spec.exclude for c in found)

    def _decide(
        self,
        due: Sequence[Scheduled],
        facts: Mapping[int, Facts],
        sent: dict[tuple[int, str, timedelta], int],
        now: datetime,
    ) -> list[Decision]:
        decisions = []
        for message in due:
            campaign = self._stage.campaigns.get(message.campaign)
            person = None if message.profile_id is None else facts.get(message.profile_id)
            if campaign is None or not campaign.spec.enabled:
                decisions.append(Decision(message.id, SUPPRESSED, "campaign removed or disabled"))
            elif person is None:
                decisions.append(Decision(message.id, SUPPRESSED, "profile not found"))
            else:
                decisions.append(self._decide_one(campaign, message, person, sent, now))
        return decisions

    def _decide_one(
        self,
        campaign: Campaign,
        message: Scheduled,
        person: Facts,
        sent: dict[tuple[int, str, timedelta], int],
        now: datetime,
    ) -> Decision:
        spec = campaign.spec
        profile_id = message.profile_id
        assert profile_id is not None
        if policy.in_holdout(campaign.name, profile_id, spec.holdout_percent):
            return Decision(message.id, HOLDOUT, "in the control group")
        excluded = self._excluded(campaign, person)
        if excluded is not None:
            return Decision(message.id, SUPPRESSED, excluded)
        chosen = policy.choose_channel(campaign, person, self._stage.destinations)
        if isinstance(chosen, str):
            return Decision(message.id, SUPPRESSED, chosen)
        channel, destination = chosen
        quiet_end = policy.quiet_until(spec.quiet_hours, person, now)
        if quiet_end is not None:
            return Decision(message.id, SCHEDULED, "quiet hours", scheduled_at=quiet_end)
        counts = {(c, period): n for (p, c, period), n in sent.items() if p == profile_id}
        if policy.capped(campaign, channel, counts):
            return Decision(message.id, SUPPRESSED, f"frequency cap on {channel}")
        try:
            payload = _message(campaign, channel, message, person)
        except TemplateError as error:
            return Decision(message.id, SUPPRESSED, f"template failed: {error}")
        for cap in spec.frequency_caps:  # this message counts towards the next ones
            key = (profile_id, cap.channel or "", cap.period)
            if cap.channel in (None, channel):
                sent[key] = sent.get(key, 0) + 1
        return Decision(
            message.id, PENDING, None, destination.name, channel, payload, message.scheduled_at
        )

    def _excluded(self, campaign: Campaign, person: Facts) -> str | None:
        """Why the campaign's exclusions stop the person, or None. An exclusion audience no
        longer declared stops everyone: sending to those it was meant to exclude is worse."""
        declared = {a.name for a in self._store.audiences.audiences}
        missing = [name for name in campaign.spec.exclude if name not in declared]
        if missing:
            return f"exclusion audience {missing[0]} is not declared"
        excluded = policy.excluded_by(campaign.spec.exclude, person)
        return None if excluded is None else f"in exclusion audience {excluded}"

    # -- the senders -------------------------------------------------------------------------

    def send_once(self, sender: "_Sender") -> int:
        """Send one batch of what ``sender``'s destination may have now; returns how many."""
        now = datetime.now(UTC)
        declared = sender.declared
        with self._store.reader() as con:
            due = due_for(con, declared.name, now, self.low(), self.settings.batch_size)
            if not due:
                return 0
            checked = [d for d in due if d.profile_id is not None and _reads_person(d, declared)]
            facts = self._facts(
                con,
                [d.profile_id for d in checked if d.profile_id],
                now,
                audiences=self._excludes(
                    str(d.payload.get("campaign")) for d in checked if d.kind == "message"
                ),
            )
        outcomes: dict[int, Attempted] = {}
        to_send: list[Delivery] = []
        for delivery in due:
            refusal, ready = self._at_send_time(delivery, declared, facts)
            if refusal is not None:
                outcomes[delivery.id] = Attempted(
                    delivery.id, declared.name, delivery.attempt - 1, SUPPRESSED, SUPPRESSED,
                    None, refusal, now, 0.0,
                )  # fmt: skip
            else:
                to_send.append(ready)
        for shard, results, took in sender.send(to_send):
            sent_at = datetime.now(UTC)
            for delivery, outcome in zip(shard, results, strict=True):
                outcomes[delivery.id] = settle(
                    delivery, outcome, sent_at, self.settings, self._rng, took
                )
        attempts = [outcomes[d.id] for d in due]
        # Not tried because the destination did not answer: they wait as long as the one
        # that found it down (tried at once, they would hammer a dead endpoint).
        retry_at = min(
            (
                a.next_attempt_at
                for a in attempts
                if a.attempt_status == "retry" and a.next_attempt_at
            ),
            default=None,
        )
        if retry_at is not None:
            attempts = [
                replace(a, next_attempt_at=retry_at)
                if a.attempt_status == NOT_ATTEMPTED and a.detail == NOT_ATTEMPTED_UNREACHABLE
                else a
                for a in attempts
            ]
        self._store.writer.run(lambda con: record(con, attempts)).result()
        return len(due)

    def _at_send_time(
        self, delivery: Delivery, declared: DeclaredDestination, facts: Mapping[int, Facts]
    ) -> tuple[str | None, Delivery]:
        """Why the delivery may not go now (consent, exclusion), or the delivery as sent."""
        person = None if delivery.profile_id is None else facts.get(delivery.profile_id)
        categories = list(declared.consent)
        campaign = None
        if delivery.kind == "message":
            campaign = self._stage.campaigns.get(str(delivery.payload.get("campaign")))
            if campaign is None:
                # Its consent categories are gone with it: nothing says the person still
                # agrees, so its messages still owed are not sent.
                return "campaign removed before sending", delivery
            categories += campaign.spec.consent
        if categories:
            refused = policy.refused_consent(categories, person)
            if refused is not None:
                return f"consent {refused} not granted at send time", delivery
        if campaign is not None and person is not None:
            excluded = self._excluded(campaign, person)
            if excluded is not None:
                return f"{excluded} at send time", delivery
        if delivery.kind == "audience" and person is not None:
            payload = {**delivery.payload, "traits": policy.nested_traits(person)}
            return None, replace(delivery, payload=payload)
        return None, delivery


def _reads_person(delivery: Delivery, declared: DeclaredDestination) -> bool:
    return bool(declared.consent) or delivery.kind in ("message", "audience")


def _message(campaign: Campaign, channel: str, message: Scheduled, person: Facts) -> dict[str, Any]:
    """The rendered message, as a ``message`` delivery carries it."""
    traits = policy.nested_traits(person)
    trigger = message.trigger
    context = {
        "traits": traits,
        "computed": dict(person.computed),
        "event": trigger.get("event") if trigger.get("kind") == "event" else None,
        "audience": trigger.get("audience"),
        "profile_id": message.profile_id,
        "campaign": campaign.name,
    }
    spec = campaign.spec.message
    rendered: dict[str, Any] = {
        "campaign": campaign.name,
        "channel": channel,
        "body": render(spec.body, context),
    }
    if spec.subject is not None:
        rendered["subject"] = render(spec.subject, context).strip()
    if spec.html is not None:
        rendered["html"] = render(spec.html, context, html=True)
    to = {
        key: person.traits[key]
        for key in ("email", "phone")
        if isinstance(person.traits.get(key), str)
    }
    rendered["to"] = to
    rendered["traits"] = traits
    return rendered


def _sent_counts(
    con: duckdb.DuckDBPyConnection,
    due: Sequence[Scheduled],
    campaigns: Mapping[str, Campaign],
    now: datetime,
) -> dict[tuple[int, str, timedelta], int]:
    """Per person, channel ("" for all) and cap period, the messages sent (or on their way)
    within the period: what the frequency caps of the campaigns due count."""
    caps = {
        (cap.channel or "", cap.period)
        for s in due
        if s.campaign in campaigns
        for cap in campaigns[s.campaign].spec.frequency_caps
    }
    people = sorted({s.profile_id for s in due if s.profile_id is not None})
    if not caps or not people:
        return {}
    longest = max(period for _, period in caps)
    rows = con.execute(
        """SELECT profile_id, channel, scheduled_at FROM __kenning_outbox
           WHERE kind = 'message' AND status IN ('pending', 'delivered')
             AND profile_id = ANY(?) AND scheduled_at > ?""",
        [people, now - longest],
    ).fetchall()
    counts: dict[tuple[int, str, timedelta], int] = {}
    for profile_id, channel, at in rows:
        for cap_channel, period in caps:
            if cap_channel in ("", channel) and at > now - period:
                key = (int(profile_id), cap_channel, period)
                counts[key] = counts.get(key, 0) + 1
    return counts


class _Sender:
    """One destination's sending thread."""

    def __init__(self, service: DeliveryService, declared: DeclaredDestination) -> None:
        self.service = service
        self.declared = declared
        self.wanted = threading.Event()
        self._stop = threading.Event()
        self.destination: Destination = create(
            declared.kind, declared.name, declared.config, service.context
        )
        self._thread = threading.Thread(
            target=self._loop, name=f"kenning-send-{declared.name}", daemon=True
        )
        self._shards = service.settings.concurrency
        self._pool = ThreadPoolExecutor(self._shards, thread_name_prefix=self._thread.name)

    def start(self) -> None:
        self._thread.start()

    def stop(self, *, wait: bool = True) -> None:
        """Stop after the batch in hand; the destination is closed when the thread ends."""
        self._stop.set()
        self.wanted.set()
        if wait and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def send(
        self, deliveries: Sequence[Delivery]
    ) -> Iterator[tuple[list[Delivery], list[Outcome], float]]:
        """Send in up to ``concurrency`` shards at once, each person's deliveries in one shard
        and in order (a remote endpoint's latency would otherwise bound a destination to one
        delivery per round trip); yields each shard, its outcomes and milliseconds a delivery."""
        shards: list[list[Delivery]] = [[] for _ in range(self._shards)]
        for delivery in deliveries:
            key = delivery.profile_id if delivery.profile_id is not None else delivery.id
            shards[key % self._shards].append(delivery)

        def timed(shard: list[Delivery]) -> tuple[list[Delivery], list[Outcome], float]:
            started = time.perf_counter()
            results = self.destination.send_many(shard)
            return shard, results, (time.perf_counter() - started) * 1000 / len(shard)

        yield from self._pool.map(timed, [shard for shard in shards if shard])

    def _loop(self) -> None:
        send: Callable[[_Sender], int] = self.service.send_once
        try:
            while not self._stop.is_set():
                self.wanted.wait(timeout=self.service.settings.poll_seconds)
                self.wanted.clear()
                try:
                    while (
                        not self._stop.is_set() and send(self) == self.service.settings.batch_size
                    ):
                        pass
                except Exception:
                    log.exception("sending to %s failed; retried in 5 s", self.declared.name)
                    self._stop.wait(5)
        finally:
            self._pool.shutdown()
            self.destination.close()
