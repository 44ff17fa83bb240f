"""Unmerge on a real store: overrides recorded, profiles rebuilt from the log, ids stable."""

from pathlib import Path
from typing import Any

import pytest

from kenning.identity.explain import explain
from kenning.identity.identifiers import Identifier
from kenning.identity.overrides import OverrideError
from kenning.identity.rebuild import rebuild_identity
from kenning.identity.unmerge import lift_override, record_override
from kenning.store.store import Store
from tests.identity.test_stitching import partition, send


def page(message_id: str, anonymous_id: str, **traits: str) -> dict[str, Any]:
    return {
        "type": "page",
        "messageId": message_id,
        "anonymousId": anonymous_id,
        "context": {"traits": traits},
    }


def profile_of(store: Store, text: str) -> int | None:
    return store.identity.graph.profile_for(Identifier.parse(text))


def event_profiles(store: Store) -> dict[str, int]:
    with store.reader() as con:
        return {
            str(m): int(p)
            for m, p in con.execute("SELECT message_id, profile_id FROM kenning_events").fetchall()
        }


def family(store: Store) -> None:
    """Two people glued together by the family email they both used."""
    send(store, page("m1", "mum-laptop", email="family@x.com"))
    send(store, page("m2", "mum-laptop", phone="+447700900001"))
    send(store, page("m3", "dad-phone", email="Family@X.com"))


def test_detach_splits_the_profile_and_the_larger_part_keeps_the_id(store: Store) -> None:
    family(store)
    glued = profile_of(store, "anonymous_id:mum-laptop")
    assert glued == profile_of(store, "anonymous_id:dad-phone")

    applied = record_override(store, "detach", "email:FAMILY@x.com", reason="shared inbox")
    assert applied.override.a == Identifier("email", "family@x.com")  # normalised
    assert applied.rebuilt.watched == {
        "email:family@x.com": {"before": glued, "after": profile_of(store, "email:family@x.com")}
    }
    assert partition(store) == {
        frozenset({"anonymous_id:mum-laptop", "phone:+447700900001"}),
        frozenset({"anonymous_id:dad-phone"}),
    }
    assert applied.rebuilt.watched["email:family@x.com"]["after"] is None  # in no profile now
    mum, dad = (
        profile_of(store, "anonymous_id:mum-laptop"),
        profile_of(store, "anonymous_id:dad-phone"),
    )
    assert mum == glued  # the larger part keeps the id
    assert dad is not None and dad > glued  # the rest get ids never used before
    assert event_profiles(store) == {"m1": mum, "m2": mum, "m3": dad}
    assert not explain(
        store, Identifier("anonymous_id", "mum-laptop"), Identifier("anonymous_id", "dad-phone")
    ).joined

    # new events obey the override at once
    send(store, page("m4", "grandma-tablet", email="family@x.com"))
    assert partition(store) >= {frozenset({"anonymous_id:grandma-tablet"})}

    # a plain rebuild reproduces the same people under the same ids
    live = store.identity.graph.partition()
    rebuild_identity(store)
    assert store.identity.graph.partition() == live


def test_lifting_the_override_merges_back_under_the_oldest_id(store: Store) -> None:
    family(store)
    glued = profile_of(store, "anonymous_id:mum-laptop")
    applied = record_override(store, "detach", "email:family@x.com")
    dad = profile_of(store, "anonymous_id:dad-phone")

    lifted = lift_override(store, applied.override.id)
    assert lifted is not None
    assert profile_of(store, "anonymous_id:dad-phone") == glued
    assert set(event_profiles(store).values()) == {glued}
    assert store.identity.overrides == []
    with store.reader() as con:
        # whoever kept dad's interim id still finds him
        redirect = con.execute(
            "SELECT canonical_id FROM __kenning_profile_redirects WHERE profile_id = ?", [dad]
        ).fetchone()
    assert redirect == (glued,)
    assert lift_override(store, applied.override.id) is None


def test_never_join_separates_two_identifiers_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "k.duckdb"
    with Store.open(path) as store:
        family(store)
        record_override(store, "never_join", "anonymous_id:mum-laptop", "anonymous_id:dad-phone")
        apart = partition(store)
        assert profile_of(store, "anonymous_id:mum-laptop") != profile_of(
            store, "anonymous_id:dad-phone"
        )
    with Store.open(path) as store:
        assert [o.kind for o in store.identity.overrides] == ["never_join"]
        assert partition(store) == apart
        send(store, page("m9", "dad-phone", phone="+447700900001"))  # would glue them again
        assert profile_of(store, "anonymous_id:mum-laptop") != profile_of(
            store, "anonymous_id:dad-phone"
        )


@pytest.mark.parametrize(
    ("kind", "a", "b", "field"),
    [
        ("never_join", "email:a@x.com", None, "b"),
        ("never_join", "email:a@x.com", "email:A@x.com", "b"),
        ("detach", "nocolon", None, "a"),
        ("detach", "email:not-an-email", None, "a"),
        ("detach", "anonymous_id:null", None, "a"),
        ("merge", "email:a@x.com", None, "kind"),
    ],
)
def test_bad_overrides_are_refused_and_nothing_is_recorded(
    store: Store, kind: str, a: str, b: str | None, field: str
) -> None:
    with pytest.raises(OverrideError) as error:
        record_override(store, kind, a, b)
    assert error.value.field == field
    with store.reader() as con:
        assert con.execute("SELECT count(*) FROM __kenning_identity_overrides").fetchone() == (0,)


def test_an_id_a_rebuild_retires_is_never_handed_out_again(tmp_path: Path) -> None:
    path = tmp_path / "k.duckdb"
    with Store.open(path) as store:
        send(store, page("m1", "first-visitor"), page("m2", "second-visitor"))
        retired = profile_of(store, "anonymous_id:second-visitor")
        assert retired == 2
        # The only event naming the newest profile leaves the log (as retention will do), and
        # the rebuild leaves no row that names its id.
        store.writer.run(
            lambda con: con.execute("DELETE FROM __kenning_events WHERE message_id = 'm2'")
        ).result()
        rebuild_identity(store)
        assert profile_of(store, "anonymous_id:second-visitor") is None
    with Store.open(path) as store:  # and the mark survives a restart
        send(store, page("m3", "third-visitor"))
        assert profile_of(store, "anonymous_id:third-visitor") == 3


def test_a_person_wrongly_merged_away_gets_their_own_id_back_after_the_unmerge(
    store: Store,
) -> None:
    send(store, page("m1", "mum-laptop", email="family@x.com"))
    send(store, page("m2", "dad-phone", phone="+447700900002"))
    mum = profile_of(store, "anonymous_id:mum-laptop")
    dad = profile_of(store, "anonymous_id:dad-phone")
    send(store, page("m3", "dad-phone", email="family@x.com"))  # dad's profile merged into mum's
    assert profile_of(store, "anonymous_id:dad-phone") == mum
    assert dad is not None and dad > (mum or 0)

    record_override(store, "never_join", "anonymous_id:mum-laptop", "anonymous_id:dad-phone")
    # Whoever kept dad's id (an email tool, an export) must find dad again, never mum.
    assert profile_of(store, "anonymous_id:mum-laptop") == mum
    assert profile_of(store, "anonymous_id:dad-phone") == dad
    # m3 goes with the family email, which outranks dad's device id.
    assert event_profiles(store) == {"m1": mum, "m2": dad, "m3": mum}
    with store.reader() as con:
        redirects = con.execute(
            "SELECT profile_id, canonical_id FROM __kenning_profile_redirects"
        ).fetchall()
    assert redirects == []
