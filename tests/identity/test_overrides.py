"""Overrides in the graph: never-join and detach, and unmerge restoring the partition."""

from datetime import UTC, datetime, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kenning.identity.graph import IdentityGraph
from kenning.identity.identifiers import Identifier
from kenning.identity.overrides import DETACH, NEVER_JOIN, Override, OverrideIndex
from kenning.identity.rules import IdentityRules
from tests.identity.test_graph import events, ids, partition, run

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def graph_with(*overrides: tuple[str, str, str | None]) -> IdentityGraph:
    index = OverrideIndex(
        Override(
            n,
            kind,
            Identifier.parse(a),
            Identifier.parse(b) if b else None,
            None,
            T0,
        )
        for n, (kind, a, b) in enumerate(overrides, 1)
    )
    return IdentityGraph(IdentityRules(), overrides=index)


def test_never_join_keeps_two_profiles_apart_whatever_links_them() -> None:
    graph = graph_with((NEVER_JOIN, "email:a@x.com", "email:b@x.com"))
    graph.resolve(ids("anonymous_id:d1", "email:a@x.com"), T0)
    graph.resolve(ids("anonymous_id:d2", "email:b@x.com"), T0)
    # a device seen with both: joining would put a and b together, so it is refused
    result = graph.resolve(ids("anonymous_id:d1", "anonymous_id:d2"), T0)
    assert result is not None and not result.merges
    assert result.dropped == [Identifier("anonymous_id", "d2")]
    assert partition(graph) == {
        frozenset({"anonymous_id:d1", "email:a@x.com"}),
        frozenset({"anonymous_id:d2", "email:b@x.com"}),
    }


def test_never_join_drops_the_lower_priority_of_the_pair_not_a_bystander() -> None:
    graph = graph_with((NEVER_JOIN, "user_id:u1", "email:shared@x.com"))
    result = graph.resolve(ids("user_id:u1", "email:shared@x.com", "anonymous_id:a1"), T0)
    assert result is not None
    assert result.dropped == [Identifier("email", "shared@x.com")]
    assert partition(graph) == {frozenset({"user_id:u1", "anonymous_id:a1"})}


def test_detached_identifier_links_nothing_and_keeps_a_profile_of_its_own() -> None:
    graph = graph_with((DETACH, "email:family@x.com", None))
    graph.resolve(ids("user_id:mum", "email:family@x.com"), T0)
    graph.resolve(ids("user_id:dad", "email:family@x.com"), T0)
    graph.resolve(ids("email:family@x.com"), T0)  # a newsletter click: the email alone
    assert partition(graph) == {
        frozenset({"user_id:mum"}),
        frozenset({"user_id:dad"}),
        frozenset({"email:family@x.com"}),
    }


@settings(max_examples=300, deadline=None)
@given(events, st.data())
def test_unmerge_after_a_merge_restores_the_previous_partition(
    batch: list[tuple[list[Identifier], int]], data: st.DataObject
) -> None:
    rules = IdentityRules()
    before = run(rules, batch)
    profiles = sorted(before.partition().items())
    assume(len(profiles) >= 2)
    first, second = data.draw(
        st.lists(st.sampled_from(profiles), min_size=2, max_size=2, unique=True)
    )
    p = Identifier.parse(data.draw(st.sampled_from(sorted(first[1]))))
    q = Identifier.parse(data.draw(st.sampled_from(sorted(second[1]))))
    merging = sorted([p, q], key=lambda i: rules.rank(i.type))

    merged = run(rules, batch)
    merged.resolve(merging, T0)
    assume(merged.profile_for(p) == merged.profile_for(q))  # limits may refuse the merge

    override = Override(1, NEVER_JOIN, p, q, None, T0)
    unmerged = IdentityGraph(rules, overrides=OverrideIndex([override]))
    for identifiers, day in batch:  # the same events at the same times as ``run``
        at = T0 + timedelta(days=day)
        unmerged.resolve(sorted(identifiers, key=lambda i: rules.rank(i.type)), at)
    unmerged.resolve(merging, T0)
    assert set(unmerged.partition().values()) == set(before.partition().values())
