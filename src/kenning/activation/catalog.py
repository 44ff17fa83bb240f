"""What is declared, as the HTTP API and the local CLI both show and check it: a destination
with its queue, a campaign with its messages, and what a campaign names that must exist.

Kept here so the two ways in (``api/activation.py``, ``cli/backend/activation.py``) answer
and refuse alike.
"""

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kenning.activation.campaigns import AudienceTrigger, Campaign, CampaignError
from kenning.activation.outbox import replay

if TYPE_CHECKING:
    from kenning.store.store import Store


def describe_destination(store: "Store", name: str) -> dict[str, Any] | None:
    """The destination (secrets masked) and its queue, ``"deliveries": {status: count}``;
    ``None`` when no destination has the name."""
    declared = store.activation.destinations.get(name)
    if declared is None:
        return None
    with store.reader() as con:
        counts = dict(
            con.execute(
                """SELECT status, count(*) FROM __kenning_outbox WHERE destination = ?
                   GROUP BY status""",
                [name],
            ).fetchall()
        )
    return {**declared.public(), "deliveries": counts}


def describe_campaign(store: "Store", name: str) -> dict[str, Any] | None:
    """The campaign and its messages by status (holdout among them, for lift); ``None`` when
    no campaign has the name."""
    with store.reader() as con:
        described = store.activation.describe_campaigns(con)
    return next((c for c in described if c["name"] == name), None)


def check_references(campaign: Campaign, store: "Store") -> None:
    """Refuse a campaign whose channels send through an undeclared destination, or that reads
    an undeclared audience (its exclusions, an audience trigger): a ``CampaignError`` naming
    the path (``channels.email.destination``, ``exclude[0]``, ``trigger.audience``)."""
    for channel, route in sorted(campaign.spec.channels.items()):
        if route.destination not in store.activation.destinations:
            raise CampaignError(
                f"no destination is named {route.destination!r}",
                f"channels.{channel}.destination",
            )
    known = {a.name for a in store.audiences.audiences}
    named = [(f"exclude[{i}]", a) for i, a in enumerate(campaign.spec.exclude)]
    if isinstance(campaign.trigger, AudienceTrigger) and campaign.owned is None:
        named.append(("trigger.audience", campaign.trigger.audience))
    for path, audience in named:
        if audience not in known:
            raise CampaignError(f"no audience is named {audience!r}", path)


def replay_dead(store: "Store", ids: list[int] | None, destination: str | None) -> list[int]:
    """Put dead deliveries back in the queue (by id, or a destination's, or both); only those
    whose destination is declared now (the others would wait with nothing to send them).
    Returns their ids."""
    if destination is not None and destination not in store.activation.destinations:
        raise KeyError(destination)
    declared = sorted(store.activation.destinations)
    now = datetime.now(UTC)
    replayed = store.writer.run(
        lambda con: replay(con, now, ids=ids, destination=destination, declared=declared)
    ).result()
    if store.delivery is not None:
        store.delivery.replayed()
    return replayed
