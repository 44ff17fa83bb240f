"""Profile ids that survive a rebuild.

Downstream systems (an email tool, a warehouse, an audience export) hold profile ids, so a
rebuild from the log (after an unmerge, an override or a changed rule) must not renumber people.
A replay numbers profiles afresh; this module maps the new numbering onto the old one:

- a profile keeps the old id of the people it holds: when one old profile split, the part that
  holds most of its identifiers keeps its id (ties go to the part created first);
- when a new profile holds several old ones, it keeps the oldest (smallest) id, as a live merge
  does, and the other old ids redirect to it;
- a profile with no predecessor, and every id only seen mid-replay, get fresh ids above any id
  ever handed out, so an id never changes owner.
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
    transient: Iterable[int] = (),
    old_redirects: Mapping[int, int] | None = None,
    first_fresh: int,
) -> StableIds:
    """Map replay ids (``new`` profiles and ``transient`` ids) onto stable ids.

    ``old`` and ``new`` map profile ids to their identifiers' texts; ``old_redirects`` maps ids
    that were already merged away to their canonical old id.

    >>> ids = stable_ids({7: ["a", "b", "c"]}, {1: ["a"], 2: ["b", "c"]}, first_fresh=8)
    >>> ids.mapping
    {2: 7, 1: 8}
    """
    owner = {key: profile for profile, keys in new.items() for key in keys}
    claims: dict[int, list[int]] = {}
    home: dict[int, int] = {}  # old id -> the new profile that took most of it
    for old_id in sorted(old):
        parts = Counter(owner[k] for k in old[old_id] if k in owner)
        if not parts:
            continue  # none of its identifiers survives: the id retires
        largest = max(parts.values())
        chosen = min(n for n, count in parts.items() if count == largest)
        home[old_id] = chosen
        claims.setdefault(chosen, []).append(old_id)

    result = StableIds()
    fresh = first_fresh
    for new_id in sorted(new):
        claimants = claims.get(new_id)
        if claimants:
            result.mapping[new_id] = min(claimants)
        else:
            result.mapping[new_id] = fresh
            fresh += 1
    for new_id in sorted(set(transient) - set(new)):
        result.mapping[new_id] = fresh
        fresh += 1
    for old_id, new_id in home.items():
        if result.mapping[new_id] != old_id:
            result.redirects[old_id] = result.mapping[new_id]
    for merged, canonical in (old_redirects or {}).items():
        target = home.get(canonical)
        if target is not None and merged not in home:
            result.redirects[merged] = result.mapping[target]
    return result
