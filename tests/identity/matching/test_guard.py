"""The chaining guard: strongest pairs first; one strong pair does not join two groups."""

from kenning.identity.matching.guard import decide

MATCH = 0.99


def verdicts(pairs: list[tuple[int, int, float]]) -> dict[tuple[int, int], str]:
    left, right, probability = zip(*pairs, strict=True)
    return {
        (d.a, d.b): d.verdict for d in decide(left, right, probability, match_probability=MATCH)
    }


def test_pairs_above_the_threshold_merge_and_the_grey_band_waits() -> None:
    assert verdicts([(1, 2, 0.999), (3, 4, 0.95)]) == {(1, 2): "merge", (3, 4): "review"}


def test_a_single_strong_pair_does_not_chain_two_groups() -> None:
    # {1, 2} and {3, 4} are each one person; 2-3 is a namesake pair that scored high.
    result = verdicts([(1, 2, 0.9999), (3, 4, 0.9999), (2, 3, 0.995)])
    assert result[(1, 2)] == result[(3, 4)] == "merge"
    assert result[(2, 3)] == "review"


def test_groups_merge_when_most_pairs_between_them_agree() -> None:
    pairs = [(1, 2, 0.9999), (3, 4, 0.9999), (1, 3, 0.995), (2, 4, 0.995), (1, 4, 0.995)]
    result = verdicts(pairs)
    assert result[(1, 3)] == "merge"  # 3 of the 4 pairs between {1,2} and {3,4} scored high
    assert (2, 4) not in result and (1, 4) not in result  # already joined: nothing to decide


def test_a_third_record_joins_a_pair_through_any_strong_pair() -> None:
    result = verdicts([(1, 2, 0.9999), (2, 3, 0.992)])
    assert result == {(1, 2): "merge", (2, 3): "merge"}  # a singleton joining: no chain
