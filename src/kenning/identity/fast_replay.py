"""Replaying the whole log with array work where the rules cannot bite, event by event where
they can; the tables come out exactly as the event-by-event replay writes them.

Why it is exact. Group the log's identifiers into connected components (two identifiers are
joined when an event carries both). Every limit is monotone: a set of identifiers that keeps
the per-type counts, the windows and the cap keeps them in every subset too. So when a
component's whole identifier set keeps every limit (each identifier counted as first seen at
the first event carrying it) and no override names any of its identifiers, no event of it ever
has an identifier left out, and event-by-event stitching does nothing but grow and join groups:
what it writes follows from the order of first appearances alone. Those *free* components are
computed here with arrays; the others (*bound*: a limit or an override may bite) go through
``IdentityGraph.resolve`` event by event, with their own profile numbering. Components never
share an identifier, so the two never interact, except through the numbering: profile ids are
handed out in order of the events that create profiles, and merge ids in order of the events
that merge, so both are renumbered over the union at the end.

How a free component is read without replaying it. Each identifier is *born* at the first
event carrying it; an event whose identifiers are all born there creates a profile, any other
event attaches its newborn identifiers to the profile its older ones are in. Following "born
at, attached to the profile of an older identifier" back gives each identifier a *root*: the
first identifier of the event that created the profile it was born into. Profiles only change
by merges, which happen at events whose older identifiers have different roots not yet joined;
those are few, and are walked in log order with a union-find over profile ids (the merge keeps
the smallest). An event's profile is then its root's profile, followed through the merges made
up to and including that event.

Links (probabilistic and reviewed merges, from outside the log) join their components too, and
make them bound: the event-by-event replay joins each link's profiles right after the event
the link followed live, so a limit sees the same graph it saw then.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from kenning.identity.graph import (
    RULE_ALIAS,
    RULE_SHARED_IDENTIFIER,
    GraphColumns,
    IdentityGraph,
    Merge,
)
from kenning.identity.identifiers import Identifier
from kenning.identity.links import Link
from kenning.identity.log_links import Codes, Events, LogLinks, read_log_links
from kenning.identity.overrides import OverrideIndex
from kenning.identity.rules import IdentityRules
from kenning.identity.stable_ids import Holdings, Keys, StableIds
from kenning.identity.stitching import write_merges

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMESTAMP = pa.timestamp("us", tz="UTC")
Flags = npt.NDArray[np.bool_]
# A merge at an event's index: made by the event (``by_link`` false) or by a link right after it.
_Made = tuple[int, bool, Merge]


@dataclass
class _Bound:
    """What event-by-event stitching of the bound components decided, in local numbering."""

    creations: list[int] = field(default_factory=list)  # event index per local profile id - 1
    profiles: dict[int, int] = field(default_factory=dict)  # event index -> local profile
    added: list[tuple[int, int, int]] = field(default_factory=list)  # (code, local, event)
    merges: list[_Made] = field(default_factory=list)


# Given what a replay made in its own numbering, the ids to write instead (``stable_ids``): the
# codes of the identifiers' texts, the profiles left at the end with their identifiers, the ids
# that took part in a merge, and those ids with the identifiers first attached to each.
Numbering = Callable[[Keys, Holdings, Codes, Holdings], StableIds]


@dataclass
class Replayed:
    events: int
    links: int
    bound_events: int
    ids: StableIds | None = None  # the numbering's answer, when one was given
    graph: GraphColumns | None = None  # what the graph holds after the replay


def fast_replay(
    con: duckdb.DuckDBPyConnection,
    rules: IdentityRules,
    overrides: OverrideIndex,
    links: Sequence[Link] = (),
    *,
    numbering: Numbering | None = None,
) -> Replayed:
    """Stitch the whole log into the (emptied) derived tables, as a replay in log order does,
    joining each link's profiles where it was made. With ``numbering``, the profiles are
    written under the ids it gives them (see ``Numbering``), not the replay's own."""
    log = read_log_links(con, rules)
    if not log.links:
        nothing = Holdings.empty()
        ids = numbering(Keys(), nothing, nothing.ids, nothing) if numbering else None
        return Replayed(0, 0, 0, ids)
    events = log.events
    n_events, n_codes = len(log.seq), len(log.identifiers)
    event_of_link = _event_of_link(log.offsets)
    born = np.full(n_codes, n_events, dtype=np.int64)
    np.minimum.at(born, log.codes, event_of_link)
    newborn = born[log.codes] == event_of_link
    older = np.flatnonzero(~newborn)  # links to an identifier seen at an earlier event
    older_events = event_of_link[older]
    first_older = _first_older(log, older, older_events)
    root = _roots(log, first_older, born)
    pair_events, pair_a, pair_b = _root_pairs(log.codes[older], older_events, first_older, root)
    placed = _place_links(log, links, born)
    link_a = np.asarray([a for _, _, a, _ in placed], dtype=np.int64)
    link_b = np.asarray([b for _, _, _, b in placed], dtype=np.int64)
    component = _components(root, np.r_[pair_a, root[link_a]], np.r_[pair_b, root[link_b]])
    bound_component = _bound_components(log, rules, overrides, component, born, events.time)
    bound_component[component[link_a]] = True
    bound_event = bound_component[component[log.codes[log.offsets[:-1]]]]

    bound = _replay_bound(log, events, rules, overrides, np.flatnonzero(bound_event), placed)
    older_count = np.add.reduceat((~newborn).astype(np.int64), log.offsets[:-1])
    free_creation = ~bound_event & (older_count == 0)
    bound_creations = np.asarray(bound.creations, dtype=np.int64)
    creations = np.sort(np.concatenate([np.flatnonzero(free_creation), bound_creations]))
    profile_of_creation = np.zeros(n_events + 1, dtype=np.int64)
    profile_of_creation[creations] = np.arange(1, len(creations) + 1)
    # Bound profiles keep their order of creation, so renumbering them keeps every decision.
    global_id = np.r_[0, profile_of_creation[bound_creations]]

    root_profile = profile_of_creation[born[root]]
    free_merges, absorbed_into, absorbed_at = _free_merges(
        log, events, pair_events, newborn, root, root_profile, bound_event, len(creations)
    )
    event_profile = _follow(
        root_profile[root[log.codes[log.offsets[:-1]]]],
        np.arange(n_events, dtype=np.int64),
        absorbed_into,
        absorbed_at,
    )
    for event, local in bound.profiles.items():
        event_profile[event] = global_id[local]
    resolved = ~bound_event
    resolved[list(bound.profiles)] = True

    free_codes = np.flatnonzero(~bound_component[component] & (born < n_events))
    added_codes = np.r_[free_codes, np.asarray([a[0] for a in bound.added], dtype=np.int64)]
    added_events = np.r_[born[free_codes], np.asarray([a[2] for a in bound.added], np.int64)]
    added_profiles = np.r_[
        event_profile[born[free_codes]],
        global_id[np.asarray([a[1] for a in bound.added], dtype=np.int64)],
    ]
    merges = sorted(
        free_merges
        + [
            (
                event,
                by_link,
                Merge(
                    int(global_id[m.kept]), int(global_id[m.merged]), m.identifiers, m.rule, m.score
                ),
            )
            for event, by_link, m in bound.merges
        ],
        # stable: an event's own merges keep their order, and its links' come after them
        key=lambda item: (item[0], item[1]),
    )
    keys = [f"{type_}:{value}" for type_, value in log.identifiers]  # as str(Identifier)
    final_profiles = _ends(added_profiles, merges)[added_profiles]
    ids = None
    if numbering is not None:
        transient_ids = np.unique(
            np.asarray([(m.kept, m.merged) for _, _, m in merges], np.int64).reshape(-1)
        )
        in_merge = np.isin(added_profiles, transient_ids)
        ids = numbering(
            Keys(keys),
            Holdings(final_profiles, added_codes),
            transient_ids,
            Holdings(added_profiles[in_merge], added_codes[in_merge]),
        )
        renumber = _renumbering(ids.mapping, added_profiles, event_profile, merges)
        added_profiles, event_profile = renumber[added_profiles], renumber[event_profile]
        final_profiles = renumber[final_profiles]
        merges = [
            (event, by_link, replace(m, kept=int(renumber[m.kept]), merged=int(renumber[m.merged])))
            for event, by_link, m in merges
        ]
    _write(
        con,
        log,
        events,
        np.flatnonzero(resolved),
        event_profile,
        (added_codes, added_events, added_profiles),
        merges,
    )
    graph = GraphColumns(
        [keys[code] for code in added_codes.tolist()],
        final_profiles.tolist(),
        [_EPOCH + timedelta(microseconds=us) for us in events.time[added_events].tolist()],
    )
    return Replayed(n_events, log.links, int(bound_event.sum()), ids, graph)


def _ends(profiles: Codes, merges: Sequence[_Made]) -> Codes:
    """An array taking each profile id (an index) to the profile it ends in after every merge
    of the replay."""
    top = max(
        int(profiles.max(initial=0)), max((max(m.kept, m.merged) for _, _, m in merges), default=0)
    )
    parent = np.arange(top + 1, dtype=np.int64)
    for _, _, merge in merges:
        parent[merge.merged] = merge.kept
    final = parent
    while not np.array_equal(moved := parent[final], final):
        final = moved
    return final


def _renumbering(
    mapping: Mapping[int, int], profiles: Codes, event_profile: Codes, merges: Sequence[_Made]
) -> Codes:
    """An array taking each replay id (an index) to its id in ``mapping``; 0 stays 0."""
    top = max(
        int(profiles.max(initial=0)),
        int(event_profile.max(initial=0)),
        max((max(m.kept, m.merged) for _, _, m in merges), default=0),
        max(mapping, default=0),
    )
    renumber = np.arange(top + 1, dtype=np.int64)
    if mapping:
        renumber[np.fromiter(mapping.keys(), np.int64)] = np.fromiter(mapping.values(), np.int64)
    return renumber


def _event_of_link(offsets: Codes) -> Codes:
    """The event (index) each link belongs to."""
    starts = np.zeros(int(offsets[-1]), dtype=np.int64)
    np.add.at(starts, offsets[1:-1], 1)  # (exact too were an event to hold no link)
    return np.cumsum(starts)


def _first_older(log: LogLinks, older: Codes, older_events: Codes) -> Codes:
    """Each event's first identifier seen at an earlier event (-1 where none is), from the
    links to such identifiers (``older``, in log order) and their events."""
    first_older = np.full(len(log.seq), -1, dtype=np.int64)
    if len(older):
        first = np.flatnonzero(np.diff(older_events, prepend=-1))
        first_older[older_events[first]] = log.codes[older[first]]
    return first_older


def _roots(log: LogLinks, first_older: Codes, born: Codes) -> Codes:
    """Each identifier's root: the first identifier of the event that created its profile."""
    first_code = log.codes[log.offsets[:-1]]
    birth_event = np.minimum(born, len(log.seq) - 1)
    parent = np.where(
        first_older[birth_event] >= 0, first_older[birth_event], first_code[birth_event]
    )
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            return parent
        parent = grand


def _root_pairs(
    older_codes: Codes, older_events: Codes, first_older: Codes, root: Codes
) -> tuple[Codes, Codes, Codes]:
    """(event, root of its first older identifier, root of another older one) wherever they
    differ, each pair at its first event only: where two groups may meet."""
    if not len(older_codes):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    events = older_events
    roots = root[older_codes]
    first_root = root[first_older][events]  # (events without an older identifier: unused)
    differs = roots != first_root
    events, a, b = events[differs], first_root[differs], roots[differs]
    _, first_seen = np.unique(a * (int(root.max()) + 1) + b, return_index=True)
    order = np.sort(first_seen)
    return events[order], a[order], b[order]


def _components(root: Codes, a: Codes, b: Codes) -> Codes:
    """A component label per identifier code: roots joined by any event carrying both."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while (up := parent.get(x, x)) != x:
            parent[x] = parent.get(up, up)
            x = up
        return x

    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    label = np.arange(len(root), dtype=np.int64)
    if parent:
        keys = np.fromiter(parent, dtype=np.int64, count=len(parent))
        label[keys] = [find(int(k)) for k in keys]
    return label[root]


def _bound_components(
    log: LogLinks,
    rules: IdentityRules,
    overrides: OverrideIndex,
    component: Codes,
    born: Codes,
    time: Codes,
) -> Flags:
    """Per component label: whether a limit or an override could make stitching leave an
    identifier out (then it is replayed event by event)."""
    n = len(component)
    seen = born < len(log.seq)
    bound = np.zeros(n, dtype=bool)
    sizes = np.bincount(component[seen], minlength=n)
    bound |= sizes > rules.max_identifiers_per_profile
    types = [identifier.type for identifier in log.identifiers]
    type_names, type_codes = np.unique(np.asarray(types, dtype=object), return_inverse=True)
    first_seen = time[np.minimum(born, len(log.seq) - 1)]
    for t, name in enumerate(type_names):
        limit = rules.limit(str(name))
        members = np.flatnonzero((type_codes == t) & seen)
        counts = np.bincount(component[members], minlength=n)
        over = counts > limit.count
        if not over.any():
            continue
        if limit.window is None:
            bound |= over
            continue
        # The densest window of each component holding more values than the limit.
        members = members[over[component[members]]]
        order = np.lexsort((first_seen[members], component[members]))
        comps, times = component[members][order], first_seen[members][order]
        step = limit.count
        if step == 0:
            bound |= over
            continue
        window = limit.window // timedelta(microseconds=1)
        dense = (comps[step:] == comps[:-step]) & (times[step:] - times[:-step] <= window)
        bound[comps[step:][dense]] = True
    if overrides:
        named = {key for key in overrides.detached} | set(overrides.never)
        codes = [
            code
            for code, identifier in enumerate(log.identifiers)
            if f"{identifier.type}:{identifier.value}" in named
        ]
        bound[component[np.asarray(codes, dtype=np.int64)]] = True
    return bound


def _place_links(
    log: LogLinks, links: Sequence[Link], born: Codes
) -> list[tuple[int, Link, int, int]]:
    """(the index of the event each link follows, the link, its two identifier codes) for the
    links whose identifiers the log holds, in the order they were made."""
    if not links:
        return []
    code_of = {identifier: code for code, identifier in enumerate(log.identifiers)}
    placed = []
    for link in sorted(links, key=lambda link: (link.after_seq, link.id)):
        a, b = code_of.get(link.a), code_of.get(link.b)
        if a is None or b is None or born[a] == len(log.seq) or born[b] == len(log.seq):
            continue  # an identifier no event carries any more: nothing to join
        after = int(np.searchsorted(log.seq, link.after_seq, side="right")) - 1
        placed.append((after, link, a, b))
    return placed


def _replay_bound(
    log: LogLinks,
    events: Events,
    rules: IdentityRules,
    overrides: OverrideIndex,
    indices: Codes,
    placed: Sequence[tuple[int, Link, int, int]],
) -> _Bound:
    graph = IdentityGraph(rules, overrides=overrides)
    code_of: dict[Identifier, int] = {}
    result = _Bound()
    next_link = 0

    def join_links_up_to(event: int) -> None:
        """Join the links made after ``event`` and before the next event."""
        nonlocal next_link
        while next_link < len(placed) and placed[next_link][0] <= event:
            after, link, _, _ = placed[next_link]
            next_link += 1
            made = graph.join(link.a, link.b, rule=link.rule, score=link.probability)
            if isinstance(made, Merge):
                result.merges.append((after, True, made))

    for event in indices.tolist():
        join_links_up_to(event - 1)
        codes = log.codes[log.offsets[event] : log.offsets[event + 1]].tolist()
        identifiers = [log.identifiers[c] for c in codes]
        for code, identifier in zip(codes, identifiers, strict=True):
            code_of[identifier] = code
        at = _EPOCH + timedelta(microseconds=int(events.time[event]))
        rule = RULE_ALIAS if events.alias[event] else RULE_SHARED_IDENTIFIER
        resolution = graph.resolve(identifiers, at, rule=rule)
        if resolution is None:
            continue
        if resolution.new_profile:
            result.creations.append(event)
        result.profiles[event] = resolution.profile_id
        for added in resolution.added:
            result.added.append((code_of[added.identifier], added.profile_id, event))
        result.merges.extend((event, False, merge) for merge in resolution.merges)
    join_links_up_to(len(log.seq))
    return result


def _free_merges(
    log: LogLinks,
    events: Events,
    pair_events: Codes,
    newborn: Flags,
    root: Codes,
    root_profile: Codes,
    bound_event: Flags,
    profiles: int,
) -> tuple[list[_Made], Codes, Codes]:
    """The merges of the free components, in log order, and for each profile the profile it
    was merged into and at which event (``profiles`` + 1 and past the last event if never)."""
    never = len(log.seq)
    absorbed_into = np.arange(profiles + 1, dtype=np.int64)
    absorbed_at = np.full(profiles + 1, never, dtype=np.int64)
    into: dict[int, int] = {}

    def current(profile: int) -> int:
        while (up := into.get(profile, profile)) != profile:
            into[profile] = into.get(up, up)
            profile = up
        return profile

    merges: list[_Made] = []
    for event in np.unique(pair_events).tolist():
        if bound_event[event]:
            continue
        start, end = int(log.offsets[event]), int(log.offsets[event + 1])
        codes = log.codes[start:end].tolist()
        older = (~newborn[start:end]).tolist()
        held = [
            current(int(root_profile[root[c]])) if old else 0
            for c, old in zip(codes, older, strict=True)
        ]
        matched = sorted({p for p in held if p})
        if len(matched) < 2:
            continue
        kept = matched[0]
        rule = RULE_ALIAS if events.alias[event] else RULE_SHARED_IDENTIFIER
        joined = {kept}
        for other in matched[1:]:
            joined.add(other)
            links = tuple(
                log.identifiers[c] for c, p in zip(codes, held, strict=True) if p in joined
            )
            merges.append((event, False, Merge(kept, other, links, rule)))
            into[other] = kept
            absorbed_into[other] = kept
            absorbed_at[other] = event
    return merges, absorbed_into, absorbed_at


def _follow(profile: Codes, at: Codes, absorbed_into: Codes, absorbed_at: Codes) -> Codes:
    """Each profile followed through the merges made up to and including event ``at``."""
    profile = profile.copy()
    while True:
        moving = absorbed_at[profile] <= at
        if not moving.any():
            return profile
        profile[moving] = absorbed_into[profile[moving]]


def _write(
    con: duckdb.DuckDBPyConnection,
    log: LogLinks,
    events: Events,
    resolved: Codes,
    event_profile: Codes,
    added: tuple[Codes, Codes, Codes],
    merges: Sequence[_Made],
) -> None:
    codes, born_at, profiles = added
    order = np.lexsort((np.arange(len(codes)), born_at))
    codes, born_at, profiles = codes[order], born_at[order], profiles[order]
    types, values = (pa.array(column, pa.string()) for column in zip(*log.identifiers, strict=True))
    at = pa.array(codes, pa.int64())
    sources = pa.DictionaryArray.from_arrays(
        pa.array(events.source[born_at], pa.int32()), pa.array(events.sources, pa.string())
    ).cast(pa.string())
    con.from_arrow(
        pa.table(
            {
                "type": types.take(at),
                "value": values.take(at),
                "profile_id": pa.array(profiles, pa.int64()),
                "source_id": sources,
                "first_seen": pa.array(events.time[born_at], pa.int64()).cast(_TIMESTAMP),
                "first_seq": pa.array(log.seq[born_at], pa.int64()),
            }
        )
    ).insert_into("__kenning_identifiers")
    con.from_arrow(
        pa.table(
            {
                "seq": pa.array(log.seq[resolved], pa.int64()),
                "profile_id": pa.array(event_profile[resolved], pa.int64()),
            }
        )
    ).insert_into("__kenning_event_profiles")
    if merges:
        write_merges(
            con,
            [
                (merge_id, None if by_link else int(log.seq[event]), merge)
                for merge_id, (event, by_link, merge) in enumerate(merges, start=1)
            ],
        )
