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
from kenning.identity.overrides import OverrideIndex
from kenning.identity.rules import IdentityRules

RULE_SHARED_IDENTIFIER = "shared_identifier"
RULE_ALIAS = "alias"
RULE_PROBABILISTIC = "probabilistic"
RULE_REVIEWED = "reviewed"


@dataclass(frozen=True, slots=True)
class Merge:
    """Profile ``merged`` was folded into ``kept`` because ``identifiers`` linked them."""

    kept: int
    merged: int
    identifiers: tuple[Identifier, ...]
    rule: str
    score: float | None = None  # a probabilistic match's probability


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


def _key(identifier: Identifier) -> str:
    return f"{identifier.type}:{identifier.value}"


@dataclass
class GraphColumns:
    """A graph's identifiers as columns: ``type:value`` texts, their profiles, and when each
    was first seen."""

    keys: list[str]
    profiles: list[int]
    first_seen: list[datetime]


class IdentityGraph:
    """Identifier -> profile, with each profile's identifiers and when each was first seen.

    Identifiers are keyed by their ``type:value`` text, not by ``Identifier`` tuples: dicts of
    strings and datetimes are invisible to Python's cycle collector, so a graph of millions of
    identifiers adds nothing to a garbage collection pass. Keyed by tuples, every full pass
    walked the whole graph and stalled ingest for tens of milliseconds.
    """

    def __init__(
        self,
        rules: IdentityRules,
        *,
        overrides: OverrideIndex | None = None,
        next_profile_id: int = 1,
    ) -> None:
        self.rules = rules
        self.overrides = overrides or OverrideIndex()
        self._profile_of: dict[str, int] = {}
        self._members: dict[int, dict[str, datetime]] = {}
        self.next_profile_id = next_profile_id

    def load(self, identifiers: GraphColumns) -> None:
        """Add identifiers with their profiles and when each was first seen."""
        keys, profiles = identifiers.keys, identifiers.profiles
        self._profile_of.update(zip(keys, profiles, strict=True))
        members = self._members
        for key, profile_id, seen in zip(keys, profiles, identifiers.first_seen, strict=True):
            held = members.get(profile_id)
            if held is None:
                held = members[profile_id] = {}
            held[key] = seen
        self.next_profile_id = max(self.next_profile_id, max(profiles, default=0) + 1)

    @property
    def profile_count(self) -> int:
        return len(self._members)

    @property
    def identifier_count(self) -> int:
        return len(self._profile_of)

    def profile_ids(self) -> Iterable[int]:
        """Every current profile."""
        return self._members.keys()

    def holds(self, profile_id: int) -> bool:
        """Whether ``profile_id`` is a current profile (not merged away, not unknown)."""
        return profile_id in self._members

    def forget(self, profile_ids: Iterable[int]) -> None:
        """Drop the profiles and their identifiers (a person deleted): nothing here names
        them after this."""
        for profile_id in profile_ids:
            for key in self._members.pop(profile_id, {}):
                if self._profile_of.get(key) == profile_id:
                    del self._profile_of[key]

    def profile_for(self, identifier: Identifier) -> int | None:
        return self._profile_of.get(_key(identifier))

    def identifiers_of(self, profile_id: int) -> dict[Identifier, datetime]:
        """A profile's identifiers, each with when it was first seen."""
        members = self._members.get(profile_id, {})
        return {Identifier.parse(key): seen for key, seen in members.items()}

    def memberships(self) -> tuple[list[int], list[str]]:
        """Every identifier's profile and ``type:value`` text, as two aligned lists."""
        return list(self._profile_of.values()), list(self._profile_of.keys())

    def partition(self) -> dict[int, frozenset[str]]:
        """Every profile with its identifiers as ``type:value`` texts."""
        return {profile: frozenset(keys) for profile, keys in self._members.items()}

    def resolve(
        self, identifiers: Sequence[Identifier], at: datetime, *, rule: str = RULE_SHARED_IDENTIFIER
    ) -> Resolution | None:
        """Stitch one event's identifiers (most important first) seen at ``at``.

        Creates a profile, attaches to the one profile they match, or merges several. When the
        result would break a limit, an identifier is left out of matching and matching is tried
        again, as in Segment: the lowest-priority one whose leaving out alone resolves the
        conflict (never the most important one: an event carrying user id u2 must not land on
        a profile without it), else the lowest-priority one. (Segment always leaves out the
        lowest-priority one; that drops harmless new identifiers, such as an imported record's
        id, together with the one that caused the conflict.) None if no identifier is usable.
        """
        candidates = list(identifiers)
        keys = [_key(i) for i in candidates]
        profile_of = self._profile_of
        known = profile_of.get(keys[0]) if keys else None
        if known is not None and all(profile_of.get(k) == known for k in keys):
            return Resolution(known)  # a returning person, nothing new: the common case
        dropped: list[Identifier] = []
        while candidates:
            matched = sorted({p for k in keys if (p := self._profile_of.get(k)) is not None})
            blocker = self._overridden(matched, keys) if self.overrides else None
            if blocker is None:
                if self._allowed(matched, keys, at):
                    return self._apply(matched, candidates, keys, at, dropped, rule)
                blocker = self._culprit(keys, at)
            dropped.append(candidates.pop(blocker))
            keys.pop(blocker)
        return None

    def join(
        self, a: Identifier, b: Identifier, *, rule: str, score: float | None = None
    ) -> Merge | str:
        """Merge the profiles holding ``a`` and ``b``: a decision from outside the event log
        (a probabilistic match, a reviewer). The merge or, when it is not made, why not."""
        first, second = self._profile_of.get(_key(a)), self._profile_of.get(_key(b))
        if first is None or second is None:
            return f"{a if first is None else b} is in no profile"
        if first == second:
            return "already one profile"
        kept, merged = sorted((first, second))  # a merge keeps the oldest id
        if self.overrides and self.overrides.conflicts(
            set(self._members[kept]) | set(self._members[merged])
        ):
            return "an override keeps them apart"
        if not self._allowed([kept, merged], [], datetime.min):
            return "together they would break an identifier limit"
        for key, first_seen in self._members.pop(merged).items():
            self._profile_of[key] = kept
            self._members[kept][key] = first_seen
        return Merge(kept, merged, (a, b), rule, score)

    def _culprit(self, keys: list[str], at: datetime) -> int:
        """The lowest-priority candidate whose leaving out alone makes the rest allowed.

        The first (most important) is not tried: leaving it out would send the event to a
        profile that lacks its strongest identifier (a user id), the over-merge limits exist
        to prevent. Left alone at the end, it is always allowed.
        """
        for index in range(len(keys) - 1, 0, -1):
            rest = keys[:index] + keys[index + 1 :]
            matched = sorted({p for k in rest if (p := self._profile_of.get(k)) is not None})
            if self._allowed(matched, rest, at) and (
                not self.overrides or self._overridden(matched, rest) is None
            ):
                return index
        return len(keys) - 1

    def _overridden(self, matched: list[int], keys: list[str]) -> int | None:
        """The candidate to leave out because an override forbids the join, if any.

        The lowest-priority candidate that takes part: one named by the override, or one that
        matched a profile holding a named identifier.
        """
        union = set(keys)
        for profile_id in matched:
            union.update(self._members[profile_id])
        conflicting = self.overrides.conflicts(union)
        if not conflicting:
            return None
        involved = {self._profile_of[k] for k in conflicting if k in self._profile_of}
        for index in range(len(keys) - 1, -1, -1):
            key = keys[index]
            if key in conflicting or self._profile_of.get(key) in involved:
                return index
        return len(keys) - 1  # not reached: a conflict always involves a candidate

    def _allowed(self, matched: list[int], keys: list[str], at: datetime) -> bool:
        """Whether the profile these identifiers would make keeps every limit.

        Only types that gain a value are checked: the profile as it stands kept its limits
        when each value came. A windowed limit holds when no window of that length holds more
        values first seen in it than the limit, wherever the window falls: an import of old
        records (seen "in the past") is judged by the values around its own time.
        """
        base = self._members[matched[0]] if matched else {}
        # What the others bring (an identifier is in one profile at most), then the new ones.
        added: dict[str, datetime] = {}
        for profile_id in matched[1:]:
            added.update(self._members[profile_id])
        for key in keys:
            if key not in base and key not in added:
                added[key] = at
        if not added:
            return True  # an existing profile as it is: no limit can newly break
        if len(base) + len(added) > self.rules.max_identifiers_per_profile:
            return False
        seen: dict[str, list[datetime]] = {}
        for key, first_seen in added.items():
            seen.setdefault(key.partition(":")[0], []).append(first_seen)
        for key, first_seen in base.items():
            times = seen.get(key.partition(":")[0])
            if times is not None:
                times.append(first_seen)
        for type_, times in seen.items():
            limit = self.rules.limit(type_)
            if len(times) <= limit.count:
                continue
            if limit.window is None:
                return False
            times.sort()
            # the densest window: limit.count + 1 values within one window length
            if any(
                times[i + limit.count] - times[i] <= limit.window
                for i in range(len(times) - limit.count)
            ):
                return False
        return True

    def _apply(
        self,
        matched: list[int],
        candidates: list[Identifier],
        keys: list[str],
        at: datetime,
        dropped: list[Identifier],
        rule: str,
    ) -> Resolution:
        if not matched:
            profile_id = self.next_profile_id
            self.next_profile_id += 1
            self._members[profile_id] = {}
            resolution = Resolution(profile_id, new_profile=True, dropped=dropped)
        else:
            # A merge keeps the oldest profile id.
            profile_id = matched[0]
            resolution = Resolution(profile_id, dropped=dropped)
            for other in matched[1:]:
                links = tuple(
                    i
                    for i, k in zip(candidates, keys, strict=True)
                    if self._profile_of.get(k) in (profile_id, other)
                )
                for key, first_seen in self._members.pop(other).items():
                    self._profile_of[key] = profile_id
                    self._members[profile_id][key] = first_seen
                resolution.merges.append(Merge(profile_id, other, links, rule))
        members = self._members[profile_id]
        for identifier, key in zip(candidates, keys, strict=True):
            if key not in members:
                members[key] = at
                self._profile_of[key] = profile_id
                resolution.added.append(NewIdentifier(identifier, profile_id, at))
        return resolution
