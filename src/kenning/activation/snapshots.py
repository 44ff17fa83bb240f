"""Audience snapshots: every member of each audience a file destination takes, with their
traits, written at once (the deltas then follow as deliveries). A page of members at a time is
read, so a large audience is streamed, not held in memory. A member who has not granted every
consent category the destination declares is left out, as a delivery to them would be."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kenning.activation.declared import DeclaredDestination
from kenning.activation.destinations.base import DestinationConfigError, DestinationContext
from kenning.activation.destinations.files import FileExport
from kenning.activation.destinations.registry import create
from kenning.activation.policy import nested_traits, refused_consent
from kenning.audiences.membership import members_page, person_facts
from kenning.profiles.rows import read_people

if TYPE_CHECKING:
    from kenning.store.store import Store

_PAGE = 2_000


def write_snapshots(
    store: "Store", declared: DeclaredDestination, context: DestinationContext
) -> dict[str, Path]:
    """A snapshot of each audience ``declared`` takes (a ``file`` destination); returns each
    audience's file."""
    destination = create(declared.kind, declared.name, declared.config, context)
    try:
        if not isinstance(destination, FileExport):
            raise DestinationConfigError("only a file destination takes snapshots", "kind")
        at = datetime.now(UTC)
        return {
            audience: destination.write_snapshot(
                audience, _members(store, audience, declared.consent), at
            )
            for audience in declared.audiences
        }
    finally:
        destination.close()


def _members(store: "Store", audience: str, consent: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        with store.reader() as con:
            page = members_page(con, audience, after, _PAGE)
            people = read_people(con, [p for p, _ in page])
        for profile_id, entered_at in page:
            found = people.get(profile_id)
            facts = None if found is None else person_facts(found[1], [], {}, set())
            if consent and refused_consent(consent, facts) is not None:
                continue
            traits = {} if facts is None else nested_traits(facts)
            yield {"profile_id": profile_id, "entered_at": entered_at, "traits": traits}
        if len(page) < _PAGE:
            return
        after = page[-1][0]
