import kenning


def test_all_names_exist_and_nothing_public_is_missing() -> None:
    for name in kenning.__all__:
        assert hasattr(kenning, name), name
    public = {n for n in vars(kenning) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(kenning.__all__)
