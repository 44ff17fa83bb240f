"""Explaining why two identifiers share a profile: the chain of merges that joins them."""

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from kenning.identity.identifiers import Identifier
from kenning.store.store import Store


@dataclass(frozen=True)
class Step:
    """One link of the chain: a merge, or the event that attached an identifier."""

    kind: str  # "attached" or "merge"
    seq: int | None
    message_id: str | None
    source: str | None
    timestamp: str | None
    detail: dict[str, Any]


@dataclass
class Explanation:
    a: str
    b: str
    joined: bool
    profile_a: int | None
    profile_b: int | None
    steps: list[Step] = field(default_factory=list)
    # Active overrides naming either identifier: why two may be apart despite shared events.
    overrides: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "joined": self.joined,
            "profile_a": self.profile_a,
            "profile_b": self.profile_b,
            "steps": [s.__dict__ for s in self.steps],
            "overrides": self.overrides,
        }


def explain(store: Store, a: Identifier, b: Identifier) -> Explanation:
    """Why ``a`` and ``b`` are (or are not) one person.

    Each identifier was first attached to some profile by an event; merges then folded
    profiles together. The explanation is the attaching events plus the merges on the path
    between the two original profiles in the merge tree.
    """
    with store.reader() as con:
        found = {
            Identifier(t, v): (int(orig), int(canon), int(seq))
            for t, v, orig, canon, seq in con.execute(
                """SELECT i.type, i.value, i.profile_id, coalesce(r.canonical_id, i.profile_id),
                          i.first_seq
                   FROM __kenning_identifiers i
                   LEFT JOIN __kenning_profile_redirects r USING (profile_id)
                   WHERE (i.type = $at AND i.value = $av) OR (i.type = $bt AND i.value = $bv)""",
                {"at": a.type, "av": a.value, "bt": b.type, "bv": b.value},
            ).fetchall()
        }
        ea, eb = found.get(a), found.get(b)
        result = Explanation(str(a), str(b), False, ea[1] if ea else None, eb[1] if eb else None)
        named = {str(a), str(b)}
        result.overrides = [
            o.as_dict()
            for o in store.identity.overrides
            if str(o.a) in named or (o.b is not None and str(o.b) in named)
        ]
        if ea is None or eb is None or ea[1] != eb[1]:
            return result
        result.joined = True
        merges = con.execute(
            "SELECT id, seq, kept, merged, identifiers, rule, score FROM __kenning_merges"
        ).fetchall()
        path = _merge_path(merges, ea[0], eb[0])
        seqs = [ea[2], eb[2], *[m[1] for m in path if m[1] is not None]]
        events = {
            int(r[0]): r[1:]
            for r in con.execute(
                """SELECT e.seq, e.message_id, s.name,
                          strftime(e.timestamp AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ')
                   FROM __kenning_events e LEFT JOIN __kenning_sources s ON s.id = e.source_id
                   WHERE e.seq IN (SELECT unnest($seqs))""",
                {"seqs": seqs},
            ).fetchall()
        }

    def step(kind: str, seq: int | None, detail: dict[str, Any]) -> Step:
        message_id, source, timestamp = (
            events.get(seq, (None, None, None)) if seq else (None, None, None)
        )
        return Step(kind, seq, message_id, source, timestamp, detail)

    result.steps.append(step("attached", ea[2], {"identifier": str(a), "profile": ea[0]}))
    for merge_id, seq, kept, merged, identifiers, rule, score in path:
        result.steps.append(
            step(
                "merge",
                seq,
                {
                    "merge_id": merge_id,
                    "kept": kept,
                    "merged": merged,
                    "identifiers": list(identifiers),
                    "rule": rule,
                    "score": score,
                },
            )
        )
    if eb[0] != ea[0] or eb[2] != ea[2]:
        result.steps.append(step("attached", eb[2], {"identifier": str(b), "profile": eb[0]}))
    return result


def _merge_path(merges: list[tuple[Any, ...]], start: int, goal: int) -> list[tuple[Any, ...]]:
    """The merges on the path between two profiles in the merge tree (breadth-first)."""
    if start == goal:
        return []
    edges: dict[int, list[tuple[int, tuple[Any, ...]]]] = {}
    for merge in merges:
        kept, merged = int(merge[2]), int(merge[3])
        edges.setdefault(kept, []).append((merged, merge))
        edges.setdefault(merged, []).append((kept, merge))
    previous: dict[int, tuple[int, tuple[Any, ...]] | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            break
        for neighbour, merge in edges.get(node, ()):
            if neighbour not in previous:
                previous[neighbour] = (node, merge)
                queue.append(neighbour)
    path: list[tuple[Any, ...]] = []
    node = goal
    while (link := previous.get(node)) is not None:
        node, merge = link
        path.append(merge)
    return sorted(path, key=lambda m: int(m[0]))
