"""The stitching rules, case by case, and the invariants they keep (hypothesis)."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kenning.identity.graph import IdentityGraph
from kenning.identity.identifiers import Identifier
from kenning.identity.rules import IdentityRules, Limit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ids(*texts: str) -> list[Identifier]:
    rules = IdentityRules()
    return sorted((Identifier.parse(t) for t in texts), key=lambda i: rules.rank(i.type))


def partition(graph: IdentityGraph) -> set[frozenset[str]]:
    return set(graph.partition().values())


def test_new_attach_and_merge_keeping_the_oldest_id() -> None:
    graph = IdentityGraph(IdentityRules())
    first = graph.resolve(ids("anonymous_id:a1"), T0)
    second = graph.resolve(ids("email:e@x.com"), T0)
    assert first and second and first.new_profile and second.new_profile
    merged = graph.resolve(ids("anonymous_id:a1", "email:e@x.com"), T0)
    assert merged is not None
    assert merged.profile_id == first.profile_id  # the oldest id survives
    assert [(m.kept, m.merged) for m in merged.merges] == [(first.profile_id, second.profile_id)]
    assert partition(graph) == {frozenset({"anonymous_id:a1", "email:e@x.com"})}


def test_two_user_ids_never_share_a_profile() -> None:
    graph = IdentityGraph(IdentityRules())
    graph.resolve(ids("user_id:u1", "anonymous_id:shared-device"), T0)
    result = graph.resolve(ids("user_id:u2", "anonymous_id:shared-device"), T0)
    assert result is not None
    # the lowest-priority identifier (the shared anonymous id) is left out and matching retried
    assert result.new_profile and result.dropped == [Identifier("anonymous_id", "shared-device")]
    assert partition(graph) == {
        frozenset({"user_id:u1", "anonymous_id:shared-device"}),
        frozenset({"user_id:u2"}),
    }


def test_a_merge_that_would_join_two_user_ids_is_refused() -> None:
    graph = IdentityGraph(IdentityRules())
    graph.resolve(ids("user_id:u1", "email:a@x.com"), T0)
    graph.resolve(ids("user_id:u2", "phone:+447700900123"), T0)
    result = graph.resolve(ids("email:a@x.com", "phone:+447700900123"), T0)
    assert result is not None and not result.merges
    assert graph.profile_count == 2


def test_windowed_limit_counts_only_recent_values() -> None:
    rules = IdentityRules(limits={"anonymous_id": Limit(2, timedelta(days=7))})
    graph = IdentityGraph(rules)
    graph.resolve(ids("user_id:u", "anonymous_id:old1"), T0)
    graph.resolve(ids("user_id:u", "anonymous_id:old2"), T0)
    refused = graph.resolve(ids("user_id:u", "anonymous_id:new1"), T0 + timedelta(days=1))
    assert refused is not None and refused.dropped == [Identifier("anonymous_id", "new1")]
    later = graph.resolve(ids("user_id:u", "anonymous_id:new2"), T0 + timedelta(days=30))
    assert later is not None and not later.dropped
    assert Identifier("anonymous_id", "new2") in graph.identifiers_of(later.profile_id)


def test_cap_on_identifiers_per_profile() -> None:
    graph = IdentityGraph(IdentityRules(max_identifiers_per_profile=3))
    for n in range(5):
        graph.resolve(ids("user_id:u", f"device_id:d{n}"), T0)
    assert all(len(m) <= 3 for m in graph.partition().values())


def test_only_blocked_or_no_identifiers_resolve_to_nothing() -> None:
    assert IdentityGraph(IdentityRules()).resolve([], T0) is None


# -- invariants -----------------------------------------------------------------------------

TYPES = ("user_id", "email", "phone", "anonymous_id", "device_id")
identifier = st.builds(Identifier, st.sampled_from(TYPES), st.sampled_from("abcdefgh"))
events = st.lists(
    st.tuples(
        st.lists(identifier, min_size=1, max_size=4, unique=True),
        st.integers(min_value=0, max_value=60),
    ),
    min_size=1,
    max_size=40,
)


def run(rules: IdentityRules, batch: list[tuple[list[Identifier], int]]) -> IdentityGraph:
    graph = IdentityGraph(rules)
    for identifiers, day in batch:
        graph.resolve(
            sorted(identifiers, key=lambda i: rules.rank(i.type)), T0 + timedelta(days=day)
        )
    return graph


@settings(max_examples=300, deadline=None)
@given(events)
def test_no_profile_ever_breaks_a_limit(batch: list[tuple[list[Identifier], int]]) -> None:
    rules = IdentityRules(
        limits={
            "user_id": Limit(1),
            "email": Limit(2),
            "anonymous_id": Limit(2, timedelta(days=7)),
        },
        other_limit=Limit(3),
        max_identifiers_per_profile=6,
    )
    graph = run(rules, batch)
    for profile_id in graph.partition():
        members = graph.identifiers_of(profile_id)
        assert len(members) <= 6
        for type_ in TYPES:
            limit = rules.limit(type_)
            values = [seen for i, seen in members.items() if i.type == type_]
            if limit.window is None:
                assert len(values) <= limit.count
            else:
                # within any window ending at a value's first sighting, at most count values
                for end in values:
                    recent = [v for v in values if end - limit.window <= v <= end]
                    assert len(recent) <= limit.count
    # every identifier belongs to exactly one profile
    owners = [i for members in graph.partition().values() for i in members]
    assert len(owners) == len(set(owners)) == graph.identifier_count


@settings(max_examples=200, deadline=None)
@given(events, st.randoms(use_true_random=False))
def test_without_limits_the_partition_does_not_depend_on_order(
    batch: list[tuple[list[Identifier], int]], rnd: object
) -> None:
    unlimited = IdentityRules(
        limits={t: Limit(1_000) for t in TYPES}, max_identifiers_per_profile=1_000
    )
    shuffled = list(batch)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert partition(run(unlimited, batch)) == partition(run(unlimited, shuffled))


def test_a_conflict_leaves_out_only_the_identifier_that_causes_it() -> None:
    graph = IdentityGraph(IdentityRules())
    graph.resolve(ids("user_id:u1", "email:e@x.com"), T0)
    graph.resolve(ids("user_id:u2", "device_id:d2"), T0)
    # a CRM record: the email is u1's, the device u2's; a brand-new record id rides along
    result = graph.resolve(ids("email:e@x.com", "device_id:d2", "crm_id:C1"), T0)
    assert result is not None and not result.merges
    # Segment's rule would drop crm_id first (lowest priority), then the device as well;
    # only the device causes the conflict, so the record id stays with the email's profile
    assert result.dropped == [Identifier("device_id", "d2")]
    assert partition(graph) == {
        frozenset({"user_id:u1", "email:e@x.com", "crm_id:C1"}),
        frozenset({"user_id:u2", "device_id:d2"}),
    }


def test_an_old_record_is_judged_by_its_own_time_not_by_values_seen_since() -> None:
    graph = IdentityGraph(IdentityRules())  # anonymous_id: 5 per week
    for day in (10, 11, 12, 13, 14, 30):
        graph.resolve(ids("user_id:u", f"anonymous_id:a{day}"), T0 + timedelta(days=day))
    # an imported CRM record dated before all of them: nothing about anonymous ids changes
    result = graph.resolve(ids("user_id:u", "crm_id:C1"), T0)
    assert result is not None and result.dropped == []
    assert Identifier("crm_id", "C1") in graph.identifiers_of(result.profile_id)
    # while a sixth anonymous id inside the busy week is still refused
    crowded = graph.resolve(ids("user_id:u", "anonymous_id:a-extra"), T0 + timedelta(days=12))
    assert crowded is not None and crowded.dropped == [Identifier("anonymous_id", "a-extra")]
