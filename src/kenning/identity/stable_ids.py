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

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass
class StableIds:
    mapping: dict[int, int] = field(default_factory=dict)  # replay id -> stable id
    redirects: dict[int, int] = field(default_factory=dict)  # old id no longer live -> stable id


def stable_ids(
    old: Mapping[int, Iterable[str]],
    new: Mapping[int, Iterable[str]],
    *,
    transient: Iterable[int] | Mapping[int, Iterable[str]] = (),
    old_redirects: Mapping[int, int] | None = None,
    merged_away: Mapping[int, Iterable[str]] | None = None,
    first_fresh: int,
) -> StableIds:
    """Map replay ids (``new`` profiles and ``transient`` ids) onto stable ids.

    ``old`` and ``new`` map profile ids to their identifiers' texts; ``old_redirects`` maps ids
    that were already merged away to their canonical old id, and ``merged_away`` gives such an
    id's own identifiers (those first attached to it), which decide where it goes now.
    ``transient`` may map each id merged away in the replay to its own identifiers likewise,
    which decide which id merged away before it takes back.

    >>> ids = stable_ids({7: ["a", "b", "c"]}, {1: ["a"], 2: ["b", "c"]}, first_fresh=8)
    >>> ids.mapping
    {2: 7, 1: 8}
    """
    owner = {key: profile for profile, keys in new.items() for key in keys}

    def part_taking_most(keys: Iterable[str]) -> int | None:
        parts = Counter(owner[k] for k in keys if k in owner)
        if not parts:
            return None
        largest = max(parts.values())
        return min(n for n, count in parts.items() if count == largest)

    claims: dict[int, list[int]] = {}
    home: dict[int, int] = {}  # old id -> the new profile that took most of it
    for old_id in sorted(old):
        chosen = part_taking_most(old[old_id])
        if chosen is None:
            continue  # none of its identifiers survives: the id retires
        home[old_id] = chosen
        claims.setdefault(chosen, []).append(old_id)
    # Ids merged away go where their own identifiers went; without any known, where the
    # profile they were merged into went.
    merged_home: dict[int, int] = {}
    reclaims: dict[int, list[int]] = {}
    for merged, canonical in sorted((old_redirects or {}).items()):
        if merged in home:
            continue
        target = part_taking_most((merged_away or {}).get(merged, ()))
        if target is None:
            target = home.get(canonical)
        if target is not None:
            merged_home[merged] = target
            reclaims.setdefault(target, []).append(merged)

    result = StableIds()
    fresh = first_fresh
    for new_id in sorted(new):
        claimants = claims.get(new_id) or reclaims.get(new_id)
        if claimants:
            result.mapping[new_id] = min(claimants)
        else:
            result.mapping[new_id] = fresh
            fresh += 1
    taken = set(result.mapping.values())
    own = transient if isinstance(transient, Mapping) else {}
    merged_owner = {key: merged for merged, keys in (merged_away or {}).items() for key in keys}
    retaken: set[int] = set()
    for new_id in sorted(set(transient) - set(new)):
        held = Counter(merged_owner[k] for k in own.get(new_id, ()) if k in merged_owner)
        most = max(held.values(), default=0)
        earlier = [m for m in sorted(held) if held[m] == most and m not in taken]
        if earlier:
            result.mapping[new_id] = earlier[0]
            retaken.add(earlier[0])
        else:
            result.mapping[new_id] = fresh
            fresh += 1
        taken.add(result.mapping[new_id])
    for old_id, new_id in (*home.items(), *merged_home.items()):
        # an id taken back is merged away again in the replay, which redirects it
        if result.mapping[new_id] != old_id and old_id not in retaken:
            result.redirects[old_id] = result.mapping[new_id]
    return result
