"""From scored pairs to decisions, guarding against transitive chaining.

Merging every pair above the threshold would take connected components of the match graph:
then one pair of namesakes that scored high could join two families of records into one
person. Here pairs are taken strongest first, and a pair that would join two groups that each
already hold several profiles merges only when most of the pairs between the two groups scored
high too; otherwise it waits for a person in the review queue. Pairs in the grey band (the
review probability up to the match probability) always wait for review.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["merge", "review"]
# Share of the pairs between two groups that must have scored high for the groups to merge.
MIN_SUPPORT = 0.5


@dataclass(frozen=True, slots=True)
class Decision:
    a: int  # profile ids
    b: int
    probability: float
    verdict: Verdict
    reason: str


class _Groups:
    """Union-find over profile ids, each group knowing its members."""

    def __init__(self) -> None:
        self._parent: dict[int, int] = {}
        self.members: dict[int, list[int]] = {}

    def find(self, node: int) -> int:
        parent = self._parent.setdefault(node, node)
        if parent != node:
            parent = self._parent[node] = self.find(parent)
        return parent

    def group(self, node: int) -> list[int]:
        return self.members.setdefault(self.find(node), [node])

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        big, small = (ra, rb) if len(self.group(ra)) >= len(self.group(rb)) else (rb, ra)
        self._parent[small] = big
        self.members[big].extend(self.members.pop(small))


def decide(
    left: Sequence[int],
    right: Sequence[int],
    probability: Sequence[float],
    *,
    match_probability: float,
) -> list[Decision]:
    """Decisions for scored pairs (each pair once): merges, and pairs for review."""
    strong: dict[int, set[int]] = {}
    for a, b, p in zip(left, right, probability, strict=True):
        if p >= match_probability:
            strong.setdefault(a, set()).add(b)
            strong.setdefault(b, set()).add(a)
    groups = _Groups()
    decisions: list[Decision] = []
    order = sorted(range(len(left)), key=lambda i: (-probability[i], left[i], right[i]))
    for i in order:
        a, b, p = left[i], right[i], probability[i]
        if groups.find(a) == groups.find(b):
            continue  # already joined through stronger pairs
        if p < match_probability:
            decisions.append(
                Decision(a, b, p, "review", "between the review and match probability")
            )
            continue
        ga, gb = groups.group(a), groups.group(b)
        if len(ga) > 1 and len(gb) > 1:
            support = sum(len(strong.get(x, set()).intersection(gb)) for x in ga)
            pairs = len(ga) * len(gb)
            if support < MIN_SUPPORT * pairs:
                decisions.append(
                    Decision(
                        a,
                        b,
                        p,
                        "review",
                        f"would join a group of {len(ga)} profiles to a group of {len(gb)}"
                        f" on {support} of their {pairs} pairs",
                    )
                )
                continue
        groups.union(a, b)
        decisions.append(Decision(a, b, p, "merge", "above the match probability"))
    return decisions
