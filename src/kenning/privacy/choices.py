"""Consent set through the API: written to the event log as the event a preference centre
would send (an ``identify`` carrying ``context.consent.categoryPreferences``), from Kenning's
own source. The log stays the one truth: the history, merges, rebuilds and every check read
an API choice exactly as they read one an SDK sent.
"""

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kenning.identity.identifiers import Identifier
from kenning.ingest.pipeline import prepare_messages
from kenning.spec.limits import DEFAULT_LIMITS
from kenning.store.sources import SourceExists

if TYPE_CHECKING:
    from kenning.store.sources import Source
    from kenning.store.store import Store

SOURCE = "kenning-consent-api"
# Where a message carries each kind of identifier; any other kind goes in externalIds.
_TOP_LEVEL = {"user_id": "userId", "anonymous_id": "anonymousId"}


def consent_message(
    identifier: Identifier, choices: Mapping[str, bool], actor_id: str, at: datetime
) -> dict[str, Any]:
    """The event stating ``choices`` for the holder of ``identifier``."""
    context: dict[str, Any] = {
        "consent": {"categoryPreferences": dict(choices)},
        "kenning": {"via": "consent API", "actor_id": actor_id},
    }
    message: dict[str, Any] = {
        "type": "identify",
        "messageId": f"consent-{uuid.uuid4()}",
        "timestamp": at.isoformat(),
        "context": context,
    }
    field = _TOP_LEVEL.get(identifier.type)
    if field is not None:
        message[field] = identifier.value
    else:
        context["externalIds"] = [
            {"id": identifier.value, "type": identifier.type, "collection": "users",
             "encoding": "none"}
        ]  # fmt: skip
    return message


def record_consent(
    store: "Store",
    holder: Identifier,
    choices: Mapping[str, bool],
    actor_id: str,
) -> None:
    """Write the choices for the profile holding ``holder`` and wait until stored (the
    profile's consent has changed when this returns)."""
    now = datetime.now(UTC)
    prepared = prepare_messages(
        [consent_message(holder, choices, actor_id, now)],
        source_id=_source(store).id,
        received_at=now,
        limits=DEFAULT_LIMITS,
        require_user_or_anonymous_id=False,
        field_prefix=None,
    )
    if prepared.rejections:  # our own message: a bug, not bad input
        raise RuntimeError(prepared.rejections[0].message)
    store.write_events(prepared.events).result()


def _source(store: "Store") -> "Source":
    found = store.sources.by_name(SOURCE)
    if found is not None:
        return found
    try:
        return store.sources.create(SOURCE).source
    except SourceExists:  # made by a request running alongside this one
        made = store.sources.by_name(SOURCE)
        assert made is not None
        return made
