"""The identity graph: which profile each identifier belongs to, and the stitching rules.

Pure Python and in memory: the writer owns one graph, stitches each newly stored event in the
ingest transaction, and persists the changes the graph reports in that same transaction.
Lookups are dictionary hits, so resolving an event costs microseconds however many profiles
there are.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kenning.identity.identifiers import Identifier
from kenning.identity.rules import IdentityRules

RULE_SHARED_IDENTIFIER = "shared_identifier"
RULE_ALIAS = "alias"


@dataclass(frozen=True, slots=True)
class Merge:
    """Profile ``merged`` was folded into ``kept`` because ``identifiers`` linked them."""

    kept: int
    merged: int
    identifiers: tuple[Identifier, ...]
    rule: str


@dataclass(frozen=True, slots=True)
class NewIdentifier:
    identifier: Identifier
    profile_id: int
    first_seen: datetime


@dataclass(slots=True)
class Resolution:
    """What stitching one event decided."""

    profile_id: int
    new_profile: bool = False
    added: list[NewIdentifier] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
    # Identifiers left out of matching because using them would have broken a limit.
    dropped: list[Identifier] = field(default_factory=list)


class IdentityGraph:
    """Identifier -> profile, with each profile's identifiers and when each was first seen."""

    def __init__(self, rules: IdentityRules, *, next_profile_id: int = 1) -> None:
        self.rules = rules
        self.profile_of: dict[Identifier, int] = {}
        self.members: dict[int, dict[Identifier, datetime]] = {}
        self.next_profile_id = next_profile_id

    def load(self, rows: Iterable[tuple[str, str, int, datetime]]) -> None:
        for type_, value, profile_id, first_seen in rows:
            identifier = Identifier(type_, value)
            self.profile_of[identifier] = profile_id
            self.members.setdefault(profile_id, {})[identifier] = first_seen
            self.next_profile_id = max(self.next_profile_id, profile_id + 1)

    @property
    def profile_count(self) -> int:
        return len(self.members)

    def resolve(
        self, identifiers: Sequence[Identifier], at: datetime, *, rule: str = RULE_SHARED_IDENTIFIER
    ) -> Resolution | None:
        """Stitch one event's identifiers (most important first) seen at ``at``.

        Creates a profile, attaches to the one profile they match, or merges several. When the
        result would break a limit, the event's lowest-priority identifier is left out of
        matching and matching is tried again (Segment's rule). None if no identifier is usable.
        """
        candidates = list(identifiers)
        dropped: list[Identifier] = []
        while candidates:
            matched = sorted({p for i in candidates if (p := self.profile_of.get(i)) is not None})
            if self._allowed(matched, candidates, at):
                return self._apply(matched, candidates, at, dropped, rule)
            dropped.append(candidates.pop())
        return None

    def _allowed(self, matched: list[int], candidates: list[Identifier], at: datetime) -> bool:
        combined: dict[Identifier, datetime] = {}
        for profile_id in matched:
            combined.update(self.members[profile_id])
        for identifier in candidates:
            combined.setdefault(identifier, at)
        unchanged = len(matched) == 1 and len(combined) == len(self.members[matched[0]])
        if unchanged:
            return True  # an existing profile as it is: no limit can newly break
        if len(combined) > self.rules.max_identifiers_per_profile:
            return False
        counts: dict[str, int] = {}
        for identifier, first_seen in combined.items():
            limit = self.rules.limit(identifier.type)
            if limit.window is not None and not (at - limit.window <= first_seen):
                continue  # outside the window: does not count against it
            counts[identifier.type] = counts.get(identifier.type, 0) + 1
            if counts[identifier.type] > limit.count:
                return False
        return True

    def _apply(
        self,
        matched: list[int],
        candidates: list[Identifier],
        at: datetime,
        dropped: list[Identifier],
        rule: str,
    ) -> Resolution:
        if not matched:
            profile_id = self.next_profile_id
            self.next_profile_id += 1
            self.members[profile_id] = {}
            resolution = Resolution(profile_id, new_profile=True, dropped=dropped)
        else:
            # A merge keeps the oldest profile id.
            profile_id = matched[0]
            resolution = Resolution(profile_id, dropped=dropped)
            for other in matched[1:]:
                links = tuple(
                    i for i in candidates if self.profile_of.get(i) in (profile_id, other)
                )
                for identifier, first_seen in self.members.pop(other).items():
                    self.profile_of[identifier] = profile_id
                    self.members[profile_id][identifier] = first_seen
                resolution.merges.append(Merge(profile_id, other, links, rule))
        members = self.members[profile_id]
        for identifier in candidates:
            if identifier not in members:
                members[identifier] = at
                self.profile_of[identifier] = profile_id
                resolution.added.append(NewIdentifier(identifier, profile_id, at))
        return resolution
