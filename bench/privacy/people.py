"""Whom the privacy benchmark names: people of the store, with every identifier they hold.

People are picked among those who signed up (they hold an email), the ones who write to a
data protection officer, in a fixed pseudo-random order; each group of the benchmark (the
suppression list, the suppression probes, the deletions) takes people no other group took.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

# Which identifier a probe names, by turn: what a request to a data protection officer quotes.
PROBE_TYPES = ("email",) * 9 + ("user_id",) * 9 + ("anonymous_id",) * 2


@dataclass(frozen=True)
class Person:
    profile_id: int
    identifiers: tuple[str, ...]  # TYPE:VALUE, as the store keeps them

    def first(self, type_: str) -> str:
        """The person's first identifier of ``type_`` (their email when they have none)."""
        held = [i for i in self.identifiers if i.startswith(type_ + ":")]
        return held[0] if held else self.first("email")


def sample_people(path: Path, count: int) -> Iterator[Person]:
    """``count`` people of the store who hold an email, each with all their identifiers (over
    every profile merged into theirs)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            """SELECT profile_id, list(type || ':' || value ORDER BY type, value)
               FROM kenning_identifiers
               WHERE profile_id IN (SELECT profile_id FROM kenning_identifiers WHERE type = 'email'
                                    ORDER BY hash(profile_id) LIMIT ?)
               GROUP BY profile_id ORDER BY hash(profile_id)""",
            [count],
        ).fetchall()
    finally:
        con.close()
    for profile_id, identifiers in rows:
        yield Person(int(profile_id), tuple(identifiers))


def message_carrying(identifier: str) -> dict[str, Any]:
    """A track message whose only identifier of the person is ``identifier``."""
    type_, _, value = identifier.partition(":")
    message: dict[str, Any] = {
        "type": "track",
        "event": "Privacy Probe",
        "messageId": uuid.uuid4().hex,
    }
    if type_ == "user_id":
        message["userId"] = value
    elif type_ == "anonymous_id":
        message["anonymousId"] = value
    elif type_ == "email":
        # Someone else's browser quoting the person's email (a referral, a shared form).
        message["anonymousId"] = "privacy-probe-" + uuid.uuid4().hex
        message["context"] = {"traits": {"email": value}}
    else:
        raise ValueError(f"no probe message for {type_} identifiers")
    return message


def free_message() -> dict[str, Any]:
    """A message naming nobody suppressed: the control in every probe batch."""
    return message_carrying("anonymous_id:privacy-free-" + uuid.uuid4().hex)
