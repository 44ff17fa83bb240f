"""Real-time probabilistic matching on a real store: FEBRL4's first file and half of its second
are matched in batch (which trains the model); the other half then arrives record by record
group and is matched as it lands."""

import csv
import dataclasses
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from splink import DuckDBAPI, Linker

from kenning.cli.backend import LocalBackend
from kenning.demo.febrl import SETTINGS as FEBRL
from kenning.demo.febrl import SOURCE, write_febrl4
from kenning.identity.evaluate import evaluate
from kenning.identity.identifiers import Identifier
from kenning.identity.matching.features import match_records_sql
from kenning.identity.matching.review import list_reviews
from kenning.identity.matching.run import match_identities
from kenning.identity.matching.scorer import _CLEAR_AFTER, PairScorer, term_frequencies
from kenning.identity.matching.settings import MatchSettings
from kenning.settings import Settings
from kenning.store.store import Store
from tests.identity.matching.febrl import import_customers, split

ARRIVING = 2_500


def _number(rec_id: str) -> int:
    return int(rec_id.split("-")[1])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A store holding file A and the duplicates of people numbered 2,500 and up, matched in
    batch; the duplicates of the others arrive later. Returns the store, those arrivals and
    the truth."""
    directory = tmp_path_factory.mktemp("realtime")
    customers, truth = write_febrl4(directory)
    known = split(
        customers,
        directory / "known.csv",
        lambda row: "org" in row["rec_id"] or _number(row["rec_id"]) >= ARRIVING,
    )
    arriving = split(
        customers,
        directory / "arriving.csv",
        lambda row: "dup" in row["rec_id"] and _number(row["rec_id"]) < ARRIVING,
    )
    path = directory / "kenning.duckdb"
    with Store.open(path, matching=FEBRL) as store:
        assert import_customers(store, known).stored == 7_500
        report = match_identities(store, FEBRL)
        assert report.merged > 2_000
        assert store.matching.active
    return path, arriving, truth


@pytest.fixture()
def store(trained: tuple[Path, Path, Path], tmp_path: Path) -> Iterator[Store]:
    copy = tmp_path / "kenning.duckdb"
    shutil.copy(trained[0], copy)
    with Store.open(copy, matching=FEBRL) as opened:
        yield opened


def _model_links(store: Store) -> list[tuple[str, str, float]]:
    with store.reader() as con:
        return [
            (str(a), str(b), float(p))
            for a, b, p in con.execute(
                "SELECT a, b, probability FROM __kenning_identity_links"
                " WHERE decided_by = 'model' ORDER BY id"
            ).fetchall()
        ]


def test_arriving_records_merge_with_their_person_as_they_land(
    store: Store, trained: tuple[Path, Path, Path]
) -> None:
    before = len(_model_links(store))
    assert import_customers(store, trained[1]).stored == ARRIVING
    new = _model_links(store)[before:]
    # each link joins a duplicate to its original: rec-17-dup-0 to rec-17-org
    assert all(_number(a.split(":")[1]) == _number(b.split(":")[1]) for a, b, _ in new)
    print("NEW", len(new), before)
    assert len(new) >= 0.9 * ARRIVING
    assert min(p for _, _, p in new) >= FEBRL.match_probability
    scores = evaluate(store, [trained[2]])
    assert scores.pairwise_precision == 1.0
    assert scores.pairwise_recall >= 0.99  # measured 0.9918


def test_real_time_scores_are_the_batch_models(store: Store) -> None:
    """The compiled scorer gives Splink's own probabilities for the same pairs."""
    with store.reader() as con:
        model: dict[str, Any] = orjson.loads(
            con.execute("SELECT model FROM __kenning_match_runs ORDER BY id DESC").fetchall()[0][0]
        )
        records = con.sql(match_records_sql(FEBRL, ["user_id"])).to_arrow_table()
    scorer = PairScorer(model)
    records = term_frequencies(records, scorer.tf_columns)
    splink_con = duckdb.connect()
    linker = Linker(DuckDBAPI(connection=splink_con).register(records), model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predicted = (
            linker.inference.predict()
            .as_duckdbpyrelation()
            .select("record_id_l, record_id_r, match_probability")
            .fetchall()
        )
    # pairs that agree in many ways and pairs that agree in few
    probabilities = [p for _, _, p in predicted]
    assert len(predicted) > 100 and min(probabilities) < 0.01 and max(probabilities) > 0.9
    prepared = scorer.prepare(records)
    ours = {
        (a, b): p for a, b, p in scorer.score(prepared, prepared, [(a, b) for a, b, _ in predicted])
    }
    assert max(abs(ours[(a, b)] - p) for a, b, p in predicted) < 1e-9
    # Call by call, as in real time: each call answers for its own pairs only, also across
    # the emptyings of the table the calls append to.
    for n in range(_CLEAR_AFTER + 40):
        call = [predicted[n % len(predicted)], predicted[(7 * n + 3) % len(predicted)]]
        answered = sorted(scorer.score(prepared, prepared, [(a, b) for a, b, _ in call]))
        assert [(a, b) for a, b, _ in answered] == sorted((a, b) for a, b, _ in call)
        assert all(abs(q - ours[(a, b)]) < 1e-9 for a, b, q in answered)


def _identify(backend: LocalBackend, user: str, traits: dict[str, str]) -> None:
    result = backend.import_chunk(SOURCE, [{"type": "identify", "userId": user, "traits": traits}])
    assert result.stored == 1


def test_a_record_like_two_people_merges_with_neither_and_waits_for_review(
    trained: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    copy = tmp_path / "kenning.duckdb"
    shutil.copy(trained[0], copy)
    traits = {
        "firstName": "Ada",
        "lastName": "Quennell",
        "birthday": "1961-04-02",
        "address": {"street": "9 Wattle Crescent", "city": "Kiama", "postalCode": "2533"},
        "socSecId": "8812345",
    }
    off = dataclasses.replace(FEBRL, realtime=False)
    with Store.open(copy, matching=off) as store:
        backend = LocalBackend(store, Settings(matching=off))
        _identify(backend, "twin-1", traits)  # two accounts the rules keep apart
        _identify(backend, "twin-2", traits)
    with Store.open(copy, matching=FEBRL) as store:
        backend = LocalBackend(store, Settings(matching=FEBRL))
        result = backend.import_chunk(
            SOURCE, [{"type": "identify", "anonymousId": "visitor-3", "traits": traits}]
        )
        assert result.stored == 1
        (outcome,) = store.matching.outcomes
        assert outcome.merged_into is None and outcome.queued == 2
        graph = store.identity.graph
        visitor = Identifier("anonymous_id", "visitor-3")
        assert graph.profile_for(visitor) not in {
            graph.profile_for(Identifier("user_id", "twin-1")),
            graph.profile_for(Identifier("user_id", "twin-2")),
        }
        waiting = [r for r in list_reviews(store) if visitor in (r.a, r.b)]
        assert {r.reason for r in waiting} == {"several profiles match"}
        assert len(waiting) == 2


def test_nothing_is_matched_in_real_time_without_a_model_or_when_turned_off(
    trained: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    copy = tmp_path / "kenning.duckdb"
    shutil.copy(trained[0], copy)
    off = dataclasses.replace(FEBRL, realtime=False)
    with Store.open(copy, matching=off) as store:
        assert not store.matching.active
        before = len(_model_links(store))
        import_customers(store, trained[1])
        assert len(_model_links(store)) == before
    with Store.open(tmp_path / "empty.duckdb", matching=FEBRL) as store:
        assert not store.matching.active  # no match run yet: no model


def test_a_model_for_other_fields_is_left_alone_until_the_next_run(
    trained: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    copy = tmp_path / "kenning.duckdb"
    shutil.copy(trained[0], copy)
    # the defaults do not read the social security number the last run compared
    with Store.open(copy, matching=MatchSettings()) as store:
        assert not store.matching.active and store.matching.stale_model
        assert import_customers(store, trained[1]).stored == ARRIVING


def test_a_birthday_typed_beyond_year_9999_does_not_stop_real_time_matching(
    trained: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    copy = tmp_path / "kenning.duckdb"
    shutil.copy(trained[0], copy)
    off = dataclasses.replace(FEBRL, realtime=False)
    traits = {"firstName": "Ida", "lastName": "Typo", "birthday": "19400-1-01", "socSecId": "1"}
    with Store.open(copy, matching=off) as store:
        _identify(LocalBackend(store, Settings(matching=off)), "typo-1", traits)
    with Store.open(copy, matching=FEBRL) as store:  # the SQL reads it as the year 19400
        assert store.matching.active
        # one like it arrives: the typo's record is a candidate, scored with it
        backend = LocalBackend(store, Settings(matching=FEBRL))
        result = backend.import_chunk(
            SOURCE,
            [
                {
                    "type": "identify",
                    "anonymousId": "ida",
                    "traits": {**traits, "birthday": "1940-1-1"},
                }
            ],
        )
        assert result.stored == 1
        (outcome,) = store.matching.outcomes
        assert outcome.candidates >= 1


def test_a_profile_merged_into_in_its_group_then_matched_keeps_its_redirects_whole(
    store: Store, trained: tuple[Path, Path, Path]
) -> None:
    """One group: a visitor F with a returning customer's details, a visitor X, then X joined
    to F (X now redirects to F), then F matched to the customer's profile in real time. X's
    redirect must follow F there: F was merged into in the group, so its repointing is not
    skipped as that of a profile nothing points at is."""
    with trained[1].open(newline="") as handle:
        row = next(csv.DictReader(handle))
    traits = {
        trait: row[column]
        for trait, column in [
            ("firstName", "given_name"), ("lastName", "surname"), ("birthday", "date_of_birth"),
            ("socSecId", "soc_sec_id"),
        ]
        if row[column]
    }  # fmt: skip
    address = {"street": row["street"], "city": row["suburb"], "postalCode": row["postcode"]}
    traits["address"] = {part: value for part, value in address.items() if value}
    backend = LocalBackend(store, Settings(matching=FEBRL))
    backend.ensure_source(SOURCE)
    result = backend.import_chunk(
        SOURCE,
        [
            {"type": "identify", "anonymousId": "f-1", "traits": {**traits, "email": "f@x.org"}},
            {"type": "track", "event": "Viewed", "anonymousId": "x-1"},
            {"type": "identify", "anonymousId": "x-1", "traits": {"email": "f@x.org"}},
        ],
    )
    assert result.stored == 3
    (outcome,) = store.matching.outcomes
    assert outcome.merged_into is not None  # F went to the returning customer's profile
    with store.reader() as con:
        redirects = dict(
            con.execute(
                "SELECT profile_id, canonical_id FROM __kenning_profile_redirects"
            ).fetchall()
        )
        [(x_first,)] = con.execute(
            """SELECT ep.profile_id FROM __kenning_event_profiles ep
               JOIN __kenning_events e USING (seq)
               WHERE e.anonymous_id = 'x-1' AND e.type = 'track'"""
        ).fetchall()
    assert redirects[x_first] == outcome.merged_into
    assert all(target not in redirects for target in redirects.values())  # no chains
    graph = store.identity.graph
    assert graph.profile_for(Identifier("anonymous_id", "x-1")) == outcome.merged_into
