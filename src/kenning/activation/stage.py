"""The activation writer stage: what Kenning owes, written in the transaction that caused it.

On each group of events: a copy of each event for every destination that takes the event
stream, and a scheduled message for every campaign whose event trigger it passes. On each
membership change (``AudienceStage.listeners``, in the transaction that records it): an
``Audience Entered``/``Exited`` delivery for every destination that takes that audience, and a
scheduled message for every campaign triggered by it (threshold and date triggers are owned
audiences, so they arrive here too). Nothing is read or sent here: the delivery service does
that off the ingest path (``delivery.py``).

Campaigns and destinations are declared through writer jobs, which change the stage's memory
and the tables together.
"""

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

from kenning.activation.campaigns import AudienceTrigger, Campaign, EventTrigger, parse_campaign
from kenning.activation.declared import DeclaredDestination, parse_destination
from kenning.activation.outbox import SCHEDULED, Owed, drop_queued, owe
from kenning.audiences.membership import ENTERED, Change
from kenning.audiences.stage import AudienceStage
from kenning.identity.stitching import IdentityStage
from kenning.profiles.computed.stage import ComputedTraitStage
from kenning.profiles.computed.tally import Event, holds
from kenning.store.writer import EventRow

AUDIENCE_EVENTS = {ENTERED: "Audience Entered", "exited": "Audience Exited"}


class CampaignInUse(ValueError):
    pass


class ActivationStage:
    def __init__(
        self, identity: IdentityStage, computed: ComputedTraitStage, audiences: AudienceStage
    ) -> None:
        self._identity = identity
        self._computed = computed
        self._audiences = audiences
        self.campaigns: dict[str, Campaign] = {}
        self.destinations: dict[str, DeclaredDestination] = {}
        self._group_destinations: set[str] = set()
        self._group_scheduled = False
        # Told after a commit that wrote deliveries: the destinations owed, and whether a
        # campaign's message was scheduled (the delivery service wakes its senders).
        self.on_owed: list[Callable[[set[str], bool], object]] = []
        # Told after a commit that (re)loaded the declarations (the service's senders follow).
        self.on_reloaded: list[Callable[[], object]] = []
        self._reloaded = False
        self._lock = threading.Lock()
        audiences.listeners.append(self.audience_changed)
        audiences.users.append(self.user_of)
        audiences.watchers.append(self.watched_audiences)

    # -- the stage ---------------------------------------------------------------------------

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        self.destinations = {
            str(name): parse_destination(orjson.loads(spec))
            for name, spec in con.execute(
                """SELECT name, json_object('name', name, 'kind', kind, 'config', config,
                          'consent', consent, 'audiences', audiences, 'events', events,
                          'enabled', enabled)::VARCHAR
                   FROM __kenning_destinations ORDER BY name"""
            ).fetchall()
        }
        self.campaigns = {
            str(name): parse_campaign(orjson.loads(spec), str(name))
            for name, spec in con.execute(
                "SELECT name, spec::VARCHAR FROM __kenning_campaigns ORDER BY name"
            ).fetchall()
        }
        self._group_destinations, self._group_scheduled = set(), False
        self._reloaded = True

    def apply(self, con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[int, EventRow]]) -> None:
        streams = [d for d in self.destinations.values() if d.enabled and d.events is not None]
        triggers = [
            (c, c.trigger)
            for c in self.campaigns.values()
            if c.spec.enabled and isinstance(c.trigger, EventTrigger)
        ]
        if not streams and not triggers:
            return
        profile_of = dict(self._identity.resolved)
        now = datetime.now(UTC)
        owed: list[Owed] = []
        for seq, row in rows:
            profile_id = profile_of.get(seq)
            forwarded: str | None = None
            for destination in streams:
                assert destination.events is not None
                if destination.events.wants(row.type, row.event):
                    forwarded = forwarded or _as_forwarded(row)
                    owed.append(
                        Owed(
                            f"event:{destination.name}:{row.source_id}:{row.message_id}",
                            destination.name,
                            profile_id,
                            "event",
                            forwarded,
                            now,
                        )
                    )
            fired = [(c, t) for c, t in triggers if _fires(t, row)]
            if not fired or profile_id is None:
                continue
            message = row.message if row.message is not None else orjson.loads(row.payload)
            source = self._computed.source_name(row.source_id)
            event = Event(seq, profile_id, row.timestamp, row.type, row.event, source, message)
            for campaign, trigger_of in fired:
                if all(holds(f, event) for f in trigger_of.where):
                    trigger = {"kind": "event", "event": message}
                    owed.append(_scheduled(campaign, profile_id, f"event:{seq}", trigger, now))
        self._owe(con, owed, now)

    def audience_changed(
        self, con: duckdb.DuckDBPyConnection, changes: Sequence[Change], now: datetime
    ) -> None:
        """A ``ChangeListener``: deliveries for the changes recorded in this transaction."""
        if not changes:
            return
        takers: dict[str, list[DeclaredDestination]] = {}
        for destination in self.destinations.values():
            if destination.enabled:
                for audience in destination.audiences:
                    takers.setdefault(audience, []).append(destination)
        triggered: dict[tuple[str, str], list[Campaign]] = {}
        for campaign in self.campaigns.values():
            if campaign.spec.enabled and isinstance(campaign.trigger, AudienceTrigger):
                key = (campaign.trigger.audience, campaign.trigger.on)
                triggered.setdefault(key, []).append(campaign)
        if not takers and not triggered:
            return
        at = now.astimezone(UTC).isoformat()
        stamp = int(now.timestamp() * 1_000_000)
        owed: list[Owed] = []
        for change in changes:
            event = AUDIENCE_EVENTS[change.change]
            cause = f"{change.audience}:{change.profile_id}:{change.change}:{stamp}"
            for destination in takers.get(change.audience, ()):
                payload = {
                    "event": event,
                    "audience_id": change.audience,
                    "audience": change.audience,
                    "profile_id": change.profile_id,
                    "at": at,
                }
                owed.append(
                    Owed(
                        f"audience:{destination.name}:{cause}",
                        destination.name,
                        change.profile_id,
                        "audience",
                        orjson.dumps(payload).decode(),
                        now,
                    )
                )
            for campaign in triggered.get((change.audience, change.change), ()):
                trigger = {"kind": "audience", "audience": change.audience, "event": event}
                owed.append(
                    _scheduled(campaign, change.profile_id, f"audience:{cause}", trigger, now)
                )
        self._owe(con, owed, now)

    def _owe(self, con: duckdb.DuckDBPyConnection, owed: list[Owed], now: datetime) -> None:
        if owe(con, owed, now):
            self._group_destinations |= {o.destination for o in owed if o.destination}
            self._group_scheduled |= any(o.status == SCHEDULED for o in owed)

    def committed(self) -> None:
        """After each commit (``Writer.on_commit``): tell the delivery service what is owed,
        and that the declarations changed."""
        if self._reloaded:
            self._reloaded = False
            for reloaded in self.on_reloaded:
                reloaded()
        if not self._group_destinations and not self._group_scheduled:
            return
        destinations, scheduled = self._group_destinations, self._group_scheduled
        self._group_destinations, self._group_scheduled = set(), False
        for listener in self.on_owed:
            listener(destinations, scheduled)

    def watched_audiences(self) -> set[str]:
        """The audiences whose entries and exits something here acts on."""
        taken = {a for d in self.destinations.values() if d.enabled for a in d.audiences}
        triggers = {
            c.trigger.audience
            for c in self.campaigns.values()
            if c.spec.enabled and isinstance(c.trigger, AudienceTrigger)
        }
        return taken | triggers

    def user_of(self, audience: str) -> str | None:
        """What uses ``audience`` (a campaign's trigger or exclusions, a destination), if
        anything: it may not be removed from under them."""
        for campaign in sorted(self.campaigns.values(), key=lambda c: c.name):
            trigger = campaign.trigger
            if audience in campaign.spec.exclude or (
                isinstance(trigger, AudienceTrigger)
                and trigger.audience == audience
                and campaign.owned is None
            ):
                return f"campaign {campaign.name!r}"
        for destination in sorted(self.destinations.values(), key=lambda d: d.name):
            if audience in destination.audiences:
                return f"destination {destination.name!r}"
        return None

    # -- declared through the API (writer jobs that change the stage) ------------------------

    def declare_destination(
        self, con: duckdb.DuckDBPyConnection, destination: DeclaredDestination
    ) -> None:
        spec = destination.spec
        con.execute(
            """INSERT INTO __kenning_destinations VALUES (?, ?, ?, ?, ?, ?, ?, now(), now())
               ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, config = excluded.config,
                   consent = excluded.consent, audiences = excluded.audiences,
                   events = excluded.events, enabled = excluded.enabled,
                   updated_at = excluded.updated_at""",
            [
                destination.name,
                destination.kind,
                orjson.dumps(spec["config"]).decode(),
                list(destination.consent),
                list(destination.audiences),
                None if spec["events"] is None else orjson.dumps(spec["events"]).decode(),
                destination.enabled,
            ],
        )
        self.load(con)

    def remove_destination(self, con: duckdb.DuckDBPyConnection, name: str) -> int:
        """Remove a destination; what it was still owed becomes dead (replayable should it be
        declared again). Returns how many."""
        users = sorted(c.name for c in self.campaigns.values() if name in c.destinations())
        if users:
            raise CampaignInUse(f"campaign {users[0]!r} sends through {name!r}")
        found = con.execute(
            "DELETE FROM __kenning_destinations WHERE name = ? RETURNING name", [name]
        ).fetchall()
        if not found:
            raise KeyError(name)
        dropped = drop_queued(con, name, datetime.now(UTC))
        self.load(con)
        return dropped

    def declare_campaign(self, con: duckdb.DuckDBPyConnection, campaign: Campaign) -> None:
        """Add or replace a campaign; a threshold or date trigger's audience is declared with
        it (and evaluated for everyone by the next batch)."""
        previous = self.campaigns.get(campaign.name)
        if previous is not None and previous.owned is not None and campaign.owned is None:
            self._audiences.remove(con, previous.owned.name)
        if campaign.owned is not None:
            self._audiences.declare(con, campaign.owned)
            self._audiences.want_everyone()
        con.execute(
            """INSERT INTO __kenning_campaigns VALUES (?, ?, ?, now(), now())
               ON CONFLICT (name) DO UPDATE SET spec = excluded.spec,
                   enabled = excluded.enabled, updated_at = excluded.updated_at""",
            [campaign.name, orjson.dumps(campaign.document()).decode(), campaign.spec.enabled],
        )
        self.load(con)

    def remove_campaign(self, con: duckdb.DuckDBPyConnection, name: str) -> None:
        """Remove a campaign; its messages not yet given a channel are suppressed."""
        campaign = self.campaigns.get(name)
        if campaign is None:
            raise KeyError(name)
        con.execute("DELETE FROM __kenning_campaigns WHERE name = ?", [name])
        con.execute(
            """UPDATE __kenning_outbox SET status = 'suppressed', detail = 'campaign removed',
                      finished_at = now()
               WHERE campaign = ? AND status = 'scheduled'""",
            [name],
        )
        if campaign.owned is not None:
            self._audiences.remove(con, campaign.owned.name)
        self.load(con)

    def describe_campaigns(self, con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
        """Every campaign with what became of its messages (counts by status)."""
        counts: dict[str, dict[str, int]] = {}
        for campaign, status, n in con.execute(
            """SELECT campaign, status, count(*) FROM __kenning_outbox
               WHERE campaign IS NOT NULL GROUP BY ALL"""
        ).fetchall():
            counts.setdefault(str(campaign), {})[str(status)] = int(n)
        return [
            {**c.document(), "messages": counts.get(name, {})}
            for name, c in sorted(self.campaigns.items())
        ]


def _as_forwarded(row: EventRow) -> str:
    """The stored message, with the time Kenning resolved for it as ``timestamp`` when it had
    none (a receiver takes ``timestamp`` as it is; without it, the time of forwarding)."""
    message = row.message if row.message is not None else orjson.loads(row.payload)
    if isinstance(message.get("timestamp"), str):
        return row.payload.decode()
    return orjson.dumps({**message, "timestamp": row.timestamp.isoformat()}).decode()


def _fires(trigger: EventTrigger, row: EventRow) -> bool:
    """The cheap part of an event trigger's test (name and type), before parsing anything."""
    if row.event not in trigger.events:
        return False
    return not trigger.types or row.type in trigger.types


def _scheduled(
    campaign: Campaign, profile_id: int, cause: str, trigger: dict[str, Any], now: datetime
) -> Owed:
    return Owed(
        f"campaign:{campaign.name}:{cause}",
        "",
        profile_id,
        "message",
        orjson.dumps(trigger).decode(),
        now + campaign.delay,
        campaign=campaign.name,
        status=SCHEDULED,
    )
