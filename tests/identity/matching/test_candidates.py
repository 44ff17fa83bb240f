"""The block index: which known records a new one shares a blocking key with."""

from kenning.identity.matching.candidates import MAX_BLOCK, SWAPPED, BlockIndex, Keys, blocks, keys

BIG = 2**62  # hashes use all 64 bits: a float could not tell these apart


def _keyed(*columns: list[int | None]) -> Keys:
    return list(columns)


def test_keys_with_gaps_find_exactly_their_records() -> None:
    index = BlockIndex(blocks(["email"]))
    index.build(_keyed([None, BIG + 1, BIG + 3, None, BIG + 1]))
    found = index.lookup(_keyed([BIG + 1, BIG + 2, BIG + 3, None]))
    assert found == [[1, 4], [], [2], []]


def test_added_records_are_found_before_and_after_a_rebuild() -> None:
    index = BlockIndex(blocks(["email"]))
    index.build(_keyed([BIG + 1]))
    index.add(_keyed([BIG + 1, BIG + 5]), first_row=1)
    assert index.pending == 2
    assert index.lookup(_keyed([BIG + 1, BIG + 5])) == [[0, 1], [2]]
    index.build(_keyed([BIG + 1, BIG + 1, BIG + 5]))
    assert index.pending == 0
    assert index.lookup(_keyed([BIG + 1, BIG + 5])) == [[0, 1], [2]]


def test_a_block_too_common_to_tell_anything_yields_no_candidates() -> None:
    index = BlockIndex(blocks(["email"]))
    index.build(_keyed([7] * (MAX_BLOCK + 1) + [8]))
    assert index.lookup(_keyed([7, 8])) == [[], [MAX_BLOCK + 1]]


def test_names_entered_the_wrong_way_round_share_a_block() -> None:
    rules = blocks(["first_name", "last_name"])
    assert [rule.name for rule in rules] == ["first_name+last_name", SWAPPED]
    known = {"first_name": ["ada", "lovelace"], "last_name": ["lovelace", "ada"]}
    probe = {"first_name": ["lovelace"], "last_name": ["ada"]}
    index = BlockIndex(rules)
    index.build(keys(known, rules, probe=False))
    # same order: record 1; swapped: record 0
    assert index.lookup(keys(probe, rules, probe=True)) == [[0, 1]]


def test_a_missing_field_leaves_a_record_out_of_that_block() -> None:
    rules = blocks(["first_name", "birthday"])
    known = {"first_name": ["ada", None], "birthday": ["1815-12-10", "1815-12-10"]}
    index = BlockIndex(rules)
    index.build(keys(known, rules, probe=False))
    assert index.lookup(keys(known, rules, probe=True)) == [[0], []]
