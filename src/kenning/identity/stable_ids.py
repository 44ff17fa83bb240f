"""Profile ids that survive a rebuild.

Downstream systems (an email tool, a warehouse, an audience export) hold profile ids, so a
rebuild from the log (after an unmerge, an override or a changed rule) must not renumber people.
A replay numbers profiles afresh; this module maps the new numbering onto the old one:

- a profile keeps the old id of the people it holds: when one old profile split, the part that
  holds most of its identifiers keeps its id (ties go to the part created first);
- when a new profile holds several old ones, it keeps the oldest (smallest) id, as a live merge
  does, and the other old ids redirect to it;
- an id merged away earlier follows the identifiers it held before that merge: when an unmerge
  separates them again, the part holding them gets that id back (if no live id claims the part)
  or the id redirects there, never to the person it was wrongly merged with;
- an id only seen mid-replay (a profile the replay created, then merged into another) takes
  back the id merged away before whose own identifiers it holds, so the events stitched to it
  keep their profile id and a rebuild that changes nothing for them moves nothing;
- a profile with no predecessor, and every other id only seen mid-replay, get fresh ids above
  any id ever handed out, so an id never changes owner.
"""

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Ids = npt.NDArray[np.int64]


@dataclass
class StableIds:
    mapping: dict[int, int] = field(default_factory=dict)  # replay id -> stable id
    redirects: dict[int, int] = field(default_factory=dict)  # old id no longer live -> stable id


@dataclass(frozen=True)
class Holdings:
    """Which id holds which key, as two aligned arrays (keys as integer codes): a partition's
    profiles with their identifiers, or ids with the identifiers first attached to them.

    Arrays, because a large rebuild maps hundreds of thousands of profiles: counting shared
    identifiers profile by profile in Python took a second of it.
    """

    ids: Ids
    keys: Ids

    @classmethod
    def empty(cls) -> "Holdings":
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64))


class Keys:
    """Integer codes for keys (identifier texts), handed out as keys are first met."""

    def __init__(self, keys: Sequence[Hashable] = ()) -> None:
        self._code: dict[Hashable, int] = dict(zip(keys, range(len(keys)), strict=True))
        if len(self._code) < len(keys):  # a key repeated: it keeps its first code
            self._code = {}
            for key in keys:
                self._code.setdefault(key, len(self._code))

    def __len__(self) -> int:
        return len(self._code)

    def held(self, ids: Sequence[int], keys: Sequence[Hashable]) -> Holdings:
        """Holdings of ``ids[i]`` holding ``keys[i]``."""
        get = self._code.get
        codes = [get(key, -1) for key in keys]
        if -1 in codes:  # keys not met before get the next codes
            for index, key in enumerate(keys):
                if codes[index] < 0:
                    codes[index] = self._code.setdefault(key, len(self._code))
        return Holdings(np.asarray(ids, np.int64), np.asarray(codes, np.int64))

    def grouped(self, groups: Mapping[int, Iterable[Hashable]]) -> Holdings:
        """Each id's keys as holdings."""
        pairs = [(holder, key) for holder, keys in groups.items() for key in keys]
        return self.held([holder for holder, _ in pairs], [key for _, key in pairs])


def stable_ids(
    old: Mapping[int, Iterable[Hashable]],
    new: Mapping[int, Iterable[Hashable]],
    *,
    transient: Iterable[int] | Mapping[int, Iterable[Hashable]] = (),
    old_redirects: Mapping[int, int] | None = None,
    merged_away: Mapping[int, Iterable[Hashable]] | None = None,
    first_fresh: int,
) -> StableIds:
    """Map replay ids (``new`` profiles and ``transient`` ids) onto stable ids.

    ``old`` and ``new`` map profile ids to their identifiers (texts, say); ``old_redirects``
    maps ids that were already merged away to their canonical old id, and ``merged_away`` gives
    such an id's own identifiers (those first attached to it), which decide where it goes now.
    ``transient`` may map each id merged away in the replay to its own identifiers likewise,
    which decide which id merged away before it takes back.

    >>> ids = stable_ids({7: ["a", "b", "c"]}, {1: ["a"], 2: ["b", "c"]}, first_fresh=8)
    >>> sorted(ids.mapping.items())
    [(1, 8), (2, 7)]
    """
    keys = Keys()
    own = transient if isinstance(transient, Mapping) else {}
    return stable_ids_of(
        keys.grouped(old),
        keys.grouped(new),
        transient_ids=np.asarray(sorted(set(transient)), np.int64),
        transient=keys.grouped(own),
        old_redirects=old_redirects or {},
        merged_away=keys.grouped(merged_away or {}),
        first_fresh=first_fresh,
        keys=len(keys),
    )


def stable_ids_of(
    old: Holdings,
    new: Holdings,
    *,
    transient_ids: Ids,
    transient: Holdings,
    old_redirects: Mapping[int, int],
    merged_away: Holdings,
    first_fresh: int,
    keys: int,
) -> StableIds:
    """``stable_ids`` over key codes below ``keys``; ``new`` is a partition (each key held once)."""
    owner = np.full(keys, -1, dtype=np.int64)  # key -> the new profile holding it
    owner[new.keys] = new.ids
    new_ids = np.unique(new.ids)
    # Each old id goes to the new profile holding most of its identifiers (ties: the one
    # created first); none when none of them survives, and then the id retires.
    home = dict(zip(*(a.tolist() for a in _taking_most(old, owner)), strict=True))
    claim = _smallest_per(home)
    # Ids merged away go where their own identifiers went; without any known, where the
    # profile they were merged into went.
    away_home = dict(zip(*(a.tolist() for a in _taking_most(merged_away, owner)), strict=True))
    merged_home: dict[int, int] = {}
    for merged, canonical in sorted(old_redirects.items()):
        if merged in home:
            continue
        target = away_home.get(merged, home.get(canonical))
        if target is not None:
            merged_home[merged] = target
    reclaim = _smallest_per(merged_home)

    result = StableIds()
    fresh = first_fresh
    for new_id in new_ids.tolist():
        stable = claim.get(new_id, reclaim.get(new_id))
        if stable is None:
            stable, fresh = fresh, fresh + 1
        result.mapping[new_id] = stable
    # An id seen only mid-replay takes back the id merged away before that holds most of its
    # own identifiers, unless that id is taken; else it gets a fresh one.
    taken = set(result.mapping.values())
    retaken: set[int] = set()
    candidates = _most_held(transient, merged_away, keys)
    for transient_id in np.setdiff1d(transient_ids, new_ids).tolist():
        earlier = [m for m in candidates.get(transient_id, ()) if m not in taken]
        if earlier:
            result.mapping[transient_id] = earlier[0]
            retaken.add(earlier[0])
        else:
            result.mapping[transient_id], fresh = fresh, fresh + 1
        taken.add(result.mapping[transient_id])
    for old_id, new_id in (*home.items(), *merged_home.items()):
        # an id taken back is merged away again in the replay, which redirects it
        if result.mapping[new_id] != old_id and old_id not in retaken:
            result.redirects[old_id] = result.mapping[new_id]
    return result


def _taking_most(held: Holdings, owner: Ids) -> tuple[Ids, Ids]:
    """(holder, the owner of most of its keys, ties to the smallest owner) for each holder with
    any owned key."""
    owned = owner[held.keys]
    present = owned >= 0
    holders, owners = held.ids[present], owned[present]
    if not len(holders):
        return holders, owners
    pairs, counts = _counted_pairs(holders, owners)  # sorted by holder, then owner
    order = np.lexsort((pairs[1], -counts, pairs[0]))
    pairs = pairs[:, order]
    first = np.r_[True, pairs[0, 1:] != pairs[0, :-1]]
    return pairs[0, first], pairs[1, first]


def _counted_pairs(a: Ids, b: Ids) -> tuple[Ids, Ids]:
    """The distinct (a, b) pairs, sorted (as two rows), and how often each occurs."""
    base = int(b.max(initial=0)) + 1
    combined, counts = np.unique(a * base + b, return_counts=True)
    return np.stack([combined // base, combined % base]), counts


def _smallest_per(home: Mapping[int, int]) -> dict[int, int]:
    """For each target, the smallest id sent to it."""
    smallest: dict[int, int] = {}
    for source, target in home.items():
        if source < smallest.get(target, source + 1):
            smallest[target] = source
    return smallest


def _most_held(transient: Holdings, merged_away: Holdings, keys: int) -> dict[int, list[int]]:
    """For each transient id, the ids merged away before that hold the most of its keys (as
    many as any does), smallest first."""
    away_owner = np.full(keys, -1, dtype=np.int64)
    away_owner[merged_away.keys] = merged_away.ids
    owned = away_owner[transient.keys]
    present = owned >= 0
    if not present.any():
        return {}
    pairs, counts = _counted_pairs(transient.ids[present], owned[present])
    best: dict[int, tuple[int, list[int]]] = {}
    for holder, held_by, count in zip(*pairs.tolist(), counts.tolist(), strict=True):
        most, ids = best.get(holder, (0, []))
        if count > most:
            best[holder] = (count, [held_by])
        elif count == most:
            ids.append(held_by)  # pairs come sorted: smallest first
    return {holder: ids for holder, (_, ids) in best.items()}
