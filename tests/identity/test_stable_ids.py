"""Profile ids across a rebuild: a split keeps the id on the larger part, a merge the oldest."""

from collections import Counter
from collections.abc import Iterable, Mapping

from hypothesis import given
from hypothesis import strategies as st

from kenning.identity.stable_ids import StableIds, stable_ids


def test_unchanged_partition_keeps_every_id() -> None:
    old = {3: ["a", "b"], 9: ["c"]}
    ids = stable_ids(old, {1: ["a", "b"], 2: ["c"]}, first_fresh=10)
    assert ids.mapping == {1: 3, 2: 9}
    assert ids.redirects == {}


def test_split_keeps_the_id_on_the_larger_part() -> None:
    ids = stable_ids({5: ["a", "b", "c"]}, {1: ["a", "b"], 2: ["c"]}, first_fresh=6)
    assert ids.mapping == {1: 5, 2: 6}


def test_split_tie_goes_to_the_part_created_first() -> None:
    ids = stable_ids({5: ["a", "b"]}, {2: ["b"], 1: ["a"]}, first_fresh=6)
    assert ids.mapping == {1: 5, 2: 6}


def test_merge_keeps_the_oldest_id_and_redirects_the_other() -> None:
    ids = stable_ids({4: ["a"], 7: ["b"]}, {1: ["a", "b"]}, first_fresh=8)
    assert ids.mapping == {1: 4}
    assert ids.redirects == {7: 4}


def test_transient_and_new_profiles_get_fresh_ids_and_old_redirects_follow() -> None:
    ids = stable_ids(
        {4: ["a", "b"]},
        {1: ["a", "b"], 3: ["z"]},
        transient=[1, 2, 3],
        old_redirects={2: 4},
        first_fresh=10,
    )
    assert ids.mapping == {1: 4, 3: 10, 2: 11}
    assert ids.redirects == {2: 4}  # an id merged away long ago still finds its person


def test_an_id_merged_away_follows_its_own_identifiers_when_they_part_again() -> None:
    # 7 was merged into 4; the unmerge separates 7's identifiers from 4's again.
    ids = stable_ids(
        {4: ["a", "b", "c"]},
        {1: ["a", "b"], 2: ["c"], 3: ["z"]},
        old_redirects={7: 4, 8: 4},
        merged_away={7: ["c"], 8: ["b"]},
        first_fresh=10,
    )
    assert ids.mapping == {1: 4, 2: 7, 3: 10}  # 7 is back with its person, not redirected
    assert ids.redirects == {8: 4}


def test_an_id_merged_away_again_in_the_replay_takes_its_id_back() -> None:
    # 7 (b first seen there) was merged into 4; the replay makes b's profile (2) again and
    # merges it into a's (1): 2 is 7 again, its events keep their profile id, and the
    # replay's own merge redirects it.
    ids = stable_ids(
        {4: ["a", "b"]},
        {1: ["a", "b"]},
        transient={1: ["a"], 2: ["b"], 3: ["c"]},
        old_redirects={7: 4},
        merged_away={7: ["b"]},
        first_fresh=10,
    )
    assert ids.mapping == {1: 4, 2: 7, 3: 10}
    assert ids.redirects == {}


partitions = st.lists(
    st.sets(st.sampled_from("abcdefghij"), min_size=1, max_size=4), min_size=1, max_size=5
)


def _disjoint(groups: list[set[str]]) -> dict[int, list[str]]:
    seen: set[str] = set()
    result: dict[int, list[str]] = {}
    for index, group in enumerate(groups):
        fresh = sorted(group - seen)
        if fresh:
            result[index + 1] = fresh
            seen |= group
    return result


@given(partitions, partitions)
def test_ids_are_unique_and_never_taken_from_someone_else(
    before: list[set[str]], after: list[set[str]]
) -> None:
    old = {p * 10: keys for p, keys in _disjoint(before).items()}
    new = _disjoint(after)
    ids = stable_ids(old, new, first_fresh=1_000)
    assigned = list(ids.mapping.values())
    assert len(assigned) == len(set(assigned))  # no two profiles share an id
    for new_id, stable in ids.mapping.items():
        if stable < 1_000:
            # an old id only goes to a profile holding some of that old profile's identifiers
            assert set(old[stable]) & set(new[new_id])
    for old_id, target in ids.redirects.items():
        assert old_id not in assigned and target in assigned


@given(partitions, partitions, partitions, partitions)
def test_ids_merged_away_and_taken_back_stay_unique_and_with_their_people(
    before: list[set[str]], merged: list[set[str]], after: list[set[str]], transient: list[set[str]]
) -> None:
    """With ids merged away before (their own identifiers) and ids merged away in the replay
    (theirs): still no id given twice, an old id only to a profile holding some of its own
    identifiers, and a redirect only from an id no profile holds."""
    old = {p * 10: keys for p, keys in _disjoint(before).items()}
    away = {500 + p: keys for p, keys in _disjoint(merged).items()}
    new = _disjoint(after)
    mid = {100 + p: keys for p, keys in _disjoint(transient).items()}
    first = min(old) if old else 10
    ids = stable_ids(
        old,
        new,
        transient=mid,
        old_redirects=dict.fromkeys(away, first),
        merged_away=away,
        first_fresh=1_000,
    )
    assigned = list(ids.mapping.values())
    assert len(assigned) == len(set(assigned))
    own = {**old, **away}
    for replay_id, stable in ids.mapping.items():
        if stable < 1_000:
            held = new.get(replay_id) or mid.get(replay_id) or []
            assert set(own[stable]) & set(held)
    for old_id, target in ids.redirects.items():
        assert old_id not in assigned and target in assigned


def _plainly(
    old: Mapping[int, Iterable[str]],
    new: Mapping[int, Iterable[str]],
    *,
    transient: Mapping[int, Iterable[str]],
    old_redirects: Mapping[int, int],
    merged_away: Mapping[int, Iterable[str]],
    first_fresh: int,
) -> StableIds:
    """The module's rules stated one profile at a time, as it first did: the reference the
    array version is held to."""
    owner = {key: profile for profile, keys in new.items() for key in keys}

    def part_taking_most(keys: Iterable[str]) -> int | None:
        parts = Counter(owner[k] for k in keys if k in owner)
        if not parts:
            return None
        largest = max(parts.values())
        return min(n for n, count in parts.items() if count == largest)

    claims: dict[int, list[int]] = {}
    home: dict[int, int] = {}
    for old_id in sorted(old):
        chosen = part_taking_most(old[old_id])
        if chosen is not None:
            home[old_id] = chosen
            claims.setdefault(chosen, []).append(old_id)
    merged_home: dict[int, int] = {}
    reclaims: dict[int, list[int]] = {}
    for merged, canonical in sorted(old_redirects.items()):
        if merged in home:
            continue
        target = part_taking_most(merged_away.get(merged, ()))
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
    merged_owner = {key: merged for merged, keys in merged_away.items() for key in keys}
    retaken: set[int] = set()
    for new_id in sorted(set(transient) - set(new)):
        held = Counter(merged_owner[k] for k in transient[new_id] if k in merged_owner)
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
        if result.mapping[new_id] != old_id and old_id not in retaken:
            result.redirects[old_id] = result.mapping[new_id]
    return result


@given(partitions, partitions, partitions, partitions, st.integers(0, 3))
def test_the_array_version_decides_as_the_rules_read_one_profile_at_a_time(
    before: list[set[str]],
    merged: list[set[str]],
    after: list[set[str]],
    transient: list[set[str]],
    canonical: int,
) -> None:
    old = {p * 10: keys for p, keys in _disjoint(before).items()}
    away = {500 + p: keys for p, keys in _disjoint(merged).items()}
    new = _disjoint(after)
    # transient ids overlap the new ones and each other's keys, as a replay's merges do
    mid = {p * 2 + 1: sorted(keys) for p, keys in enumerate(transient)}
    redirects = {m: sorted(old)[canonical % len(old)] if old else 1 for m in away}
    arguments = {
        "transient": mid,
        "old_redirects": redirects,
        "merged_away": away,
        "first_fresh": 1_000,
    }
    assert stable_ids(old, new, **arguments) == _plainly(old, new, **arguments)  # type: ignore[arg-type]
