"""The bulk replay writes exactly what the event-by-event replay writes, table by table."""

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kenning.demo.generator import generate
from kenning.identity import links, overrides
from kenning.identity.graph import IdentityGraph
from kenning.identity.identifiers import Identifier
from kenning.identity.links import Link
from kenning.identity.rebuild import rebuild_identity, replay, replay_log
from kenning.identity.rules import IdentityRules, Limit
from kenning.ingest.pipeline import prepare_messages
from kenning.spec.limits import Limits
from kenning.store.store import Store
from tests.identity.test_stitching import partition

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TABLES = {
    "identifiers": """SELECT type, value, profile_id, source_id, first_seen, first_seq
                      FROM __kenning_identifiers ORDER BY ALL""",
    "event_profiles": "SELECT seq, profile_id FROM __kenning_event_profiles ORDER BY ALL",
    "merges": """SELECT id, seq, kept, merged, identifiers, rule, score
                 FROM __kenning_merges ORDER BY id""",
    "redirects": "SELECT profile_id, canonical_id FROM __kenning_profile_redirects ORDER BY ALL",
}
# Tight limits, so that small streams break them: counts, windows, the cap.
TIGHT = IdentityRules(
    limits={
        "user_id": Limit(1),
        "email": Limit(2, timedelta(days=30)),
        "anonymous_id": Limit(2, timedelta(days=7)),
        "device_id": Limit(2),
        "phone": Limit(1, timedelta(days=3)),
    },
    max_identifiers_per_profile=5,
)


def tables(store: Store, *, sequential: bool) -> dict[str, list[tuple[Any, ...]]]:
    def run(con: Any) -> dict[str, list[tuple[Any, ...]]]:
        replay_log(con, store.identity, sequential=sequential)
        found = {name: con.execute(query).fetchall() for name, query in TABLES.items()}
        found["graph"] = sorted(sorted(keys) for keys in store.identity.graph.partition().values())
        return found

    result: dict[str, list[tuple[Any, ...]]] = store.writer.run(run).result()
    return result


def assert_same_tables(store: Store) -> None:
    one_by_one = tables(store, sequential=True)
    bulk = tables(store, sequential=False)
    for name in one_by_one:
        assert bulk[name] == one_by_one[name], name


def send(store: Store, messages: list[dict[str, Any]], source: str = "src") -> None:
    prepared = prepare_messages(messages, source_id=source, received_at=T0, limits=Limits())
    assert not prepared.rejections
    store.write_events(prepared.events).result()


def test_the_synthetic_brand(tmp_path: Path) -> None:
    generate(60, 3, tmp_path / "brand")
    messages = [
        orjson.loads(line)
        for path in sorted((tmp_path / "brand" / "events").glob("*.jsonl"))
        for line in path.read_bytes().splitlines()
        if line.strip()
    ]
    with Store.open(tmp_path / "k.duckdb", stitch=False) as store:
        for start in range(0, len(messages), 500):
            send(store, messages[start : start + 500], source=f"s{start % 3}")
        assert store.stats()["events"] > 1_000
        assert_same_tables(store)
    with Store.open(tmp_path / "k.duckdb", identity_rules=TIGHT, stitch=False) as store:
        assert_same_tables(store)  # the same brand where limits bite


def values(prefix: str, spread: int) -> st.SearchStrategy[str]:
    return st.sampled_from([f"{prefix}{n}" for n in range(spread)])


def events(spread: int) -> st.SearchStrategy[dict[str, Any]]:
    """Events over pools of ``spread`` values per type: small pools make one tangle that the
    rules must cut, large ones many separate people whose groups merge now and then."""
    user_ids = values("u", spread)
    anonymous_ids = values("a", 2 * spread)
    emails = st.one_of(values("e", spread).map(lambda v: f"{v}@x.com"), st.just("E1@x.com"))
    phones = st.sampled_from(["+447700900001", "+44 7700 900002", "+447700900003"])
    return st.fixed_dictionaries(
        {
            "type": st.sampled_from(["identify", "track", "track", "alias", "page"]),
            "day": st.integers(min_value=0, max_value=40),
        },
        optional={
            "userId": user_ids,
            "anonymousId": anonymous_ids,
            "previousId": anonymous_ids,
            "traits": st.fixed_dictionaries({}, optional={"email": emails, "phone": phones}),
            "context": st.fixed_dictionaries(
                {},
                optional={
                    "device": st.fixed_dictionaries({"id": values("d", spread)}),
                    "traits": st.fixed_dictionaries({"email": emails}),
                    "externalIds": st.lists(
                        st.fixed_dictionaries({"type": st.just("crm_id"), "id": values("C", 3)}),
                        max_size=2,
                    ),
                },
            ),
        },
    )


def person_events(people: int) -> st.SearchStrategy[dict[str, Any]]:
    """Events of one or two identifiers of one person (two devices, a user id, an email):
    each person's groups form apart, then merge, and no rule objects."""

    def event(person: int, device: int, shown: list[str], alias: bool, day: int) -> dict[str, Any]:
        drawn: dict[str, Any] = {"type": "alias" if alias else "track", "day": day}
        drawn["anonymousId"] = f"p{person}-a{device}"
        if "user" in shown or alias:
            drawn["userId"] = f"p{person}-u"
        if alias:
            drawn["previousId"] = f"p{person}-a{1 - device}"
        if "email" in shown:
            drawn["context"] = {"traits": {"email": f"p{person}@x.com"}}
        return drawn

    return st.builds(
        event,
        st.integers(0, people - 1),
        st.integers(0, 1),
        st.lists(st.sampled_from(["user", "email"]), max_size=1),
        st.integers(0, 9).map(lambda n: n == 0),  # an alias now and then
        st.integers(0, 40),
    )


streams = st.one_of(
    st.sampled_from([4, 12]).flatmap(lambda n: st.lists(events(n), min_size=1, max_size=60)),
    st.sampled_from([2, 5]).flatmap(lambda n: st.lists(person_events(n), min_size=8, max_size=60)),
)
user_ids = values("u", 4)
anonymous_ids = values("a", 8)
identifier_pool = st.one_of(
    user_ids.map(lambda v: f"user_id:{v}"),
    anonymous_ids.map(lambda v: f"anonymous_id:{v}"),
    st.sampled_from(["email:e1@x.com", "email:e2@x.com", "device_id:d1", "crm_id:C1"]),
)
override = st.one_of(
    st.tuples(st.just(overrides.NEVER_JOIN), identifier_pool, identifier_pool).filter(
        lambda o: o[1] != o[2]
    ),
    st.tuples(st.just(overrides.DETACH), identifier_pool, st.none()),
)


def as_message(drawn: dict[str, Any]) -> dict[str, Any]:
    message = {k: v for k, v in drawn.items() if k != "day"}
    message["timestamp"] = (T0 + timedelta(days=drawn["day"])).isoformat()
    if message["type"] == "alias":
        message.setdefault("userId", "u1")
        message.setdefault("previousId", "a0")
    else:
        message.pop("previousId", None)
    if message["type"] == "track":
        message["event"] = "Clicked"
    if "userId" not in message and "anonymousId" not in message:
        message["anonymousId"] = "a7"  # the spec wants one of them
    return message


link = st.tuples(identifier_pool, identifier_pool, st.integers(0, 60)).filter(
    lambda drawn: drawn[0] != drawn[1]
)


@settings(max_examples=150, deadline=None)
@given(
    streams,
    st.lists(override, max_size=3),
    st.lists(link, max_size=4),
    st.sampled_from([IdentityRules(), TIGHT]),
)
def test_streams_with_limits_windows_aliases_overrides_and_links(
    drawn: list[dict[str, Any]],
    chosen: list[tuple[str, str, str | None]],
    made: list[tuple[str, str, int]],
    rules: IdentityRules,
) -> None:
    with (
        tempfile.TemporaryDirectory() as directory,
        Store.open(Path(directory) / "k.duckdb", identity_rules=rules, stitch=False) as store,
    ):
        messages = [as_message(d) for d in drawn]
        for start in range(0, len(messages), 7):
            send(store, messages[start : start + 7], source=f"s{start % 2}")

        def record(con: Any) -> None:
            for kind, a, b in chosen:
                overrides.insert(
                    con, kind, Identifier.parse(a), Identifier.parse(b) if b else None, None
                )
            for a, b, after_seq in made:  # each made after some event of the stream
                store.identity.record_links(
                    con,
                    [Link(Identifier.parse(a), Identifier.parse(b), 0.99, links.BY_MODEL)],
                    after_seq=after_seq,
                )

        store.writer.run(record).result()
        assert_same_tables(store)


@pytest.mark.parametrize("rules", [IdentityRules(), TIGHT], ids=["defaults", "tight"])
def test_a_whole_rebuild_with_links_and_stable_ids(tmp_path: Path, rules: IdentityRules) -> None:
    """From one live store, a bulk and an event-by-event rebuild end in the same state."""
    with Store.open(tmp_path / "live.duckdb", identity_rules=rules) as store:
        send(
            store,
            [
                {"type": "identify", "userId": "u1", "anonymousId": "a1"},
                {"type": "identify", "userId": "u2", "traits": {"email": "e2@x.com"}},
                {"type": "track", "event": "x", "anonymousId": "a2"},
                {"type": "identify", "anonymousId": "a2", "traits": {"email": "e1@x.com"}},
                {"type": "track", "event": "x", "userId": "u1", "anonymousId": "a2"},
                {"type": "identify", "userId": "u3", "anonymousId": "a1"},
            ],
        )

        def decide(con: Any) -> None:
            store.identity.record_links(
                con,
                [Link(Identifier("user_id", "u2"), Identifier("user_id", "u3"), 0.99, "model")],
            )
            overrides.insert(
                con,
                overrides.NEVER_JOIN,
                Identifier("user_id", "u1"),
                Identifier("email", "e1@x.com"),
                None,
            )

        store.writer.run(decide).result()
    shutil.copy(tmp_path / "live.duckdb", tmp_path / "other.duckdb")
    states = []
    for name, sequential in (("live", True), ("other", False)):
        with Store.open(tmp_path / f"{name}.duckdb", identity_rules=rules) as store:
            if sequential:
                store.writer.run(partial(replay, stage=store.identity, sequential=True)).result()
            else:
                rebuild_identity(store)
            with store.reader() as con:
                found = {n: con.execute(q).fetchall() for n, q in TABLES.items() if n != "merges"}
                found["merges"] = con.execute(
                    "SELECT id, seq, kept, merged, identifiers, rule, score FROM __kenning_merges "
                    "ORDER BY id"
                ).fetchall()
            states.append((found, partition(store)))
    assert states[0] == states[1]


@settings(max_examples=60, deadline=None)
@given(
    streams, st.lists(override, min_size=1, max_size=2), st.sampled_from([IdentityRules(), TIGHT])
)
def test_stable_ids_given_before_writing_equal_those_given_after(
    drawn: list[dict[str, Any]], chosen: list[tuple[str, str, str | None]], rules: IdentityRules
) -> None:
    """A bulk rebuild writes the tables under their stable ids at once (computed from its
    arrays, merge chains followed); an event-by-event one writes the replay's numbering and
    renumbers the tables afterwards. From one live store, stitched as the events came and then
    given overrides (so the partition changes and ids must be kept, split and redirected),
    both end in the same tables and graph."""
    with tempfile.TemporaryDirectory() as directory:
        live = Path(directory) / "live.duckdb"
        with Store.open(live, identity_rules=rules) as store:
            send(store, [as_message(d) for d in drawn])

            def record(con: Any) -> None:
                for kind, a, b in chosen:
                    overrides.insert(
                        con, kind, Identifier.parse(a), Identifier.parse(b) if b else None, None
                    )

            store.writer.run(record).result()
        shutil.copy(live, Path(directory) / "other.duckdb")
        states = []
        for name, sequential in (("live", True), ("other", False)):
            with Store.open(Path(directory) / f"{name}.duckdb", identity_rules=rules) as store:
                store.writer.run(
                    partial(replay, stage=store.identity, sequential=sequential),
                    changes_stages=True,
                ).result()
                with store.reader() as con:
                    found = {n: con.execute(q).fetchall() for n, q in TABLES.items()}
                    # the bulk replay hands the graph what it wrote; read back, it is the same
                    replayed = held(store.identity.graph)
                    store.identity.load(con)
                    assert held(store.identity.graph) == replayed
                states.append((found, partition(store)))
        assert states[0] == states[1]


def held(graph: IdentityGraph) -> tuple[set[tuple[str, int, datetime]], int]:
    """Every identifier with its profile id and first sighting, and the next profile id."""
    return {
        (str(identifier), profile, seen)
        for profile in graph.profile_ids()
        for identifier, seen in graph.identifiers_of(profile).items()
    }, graph.next_profile_id
