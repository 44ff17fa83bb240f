"""Membership kept through the store, no HTTP: the evaluator thread enters and exits people as
their events commit; a merge takes the profile merged away out of its audiences; a batch
never undoes what real time decided for people changed since it read; a recompute or an
identity rebuild is followed by a batch."""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from kenning.audiences import realtime
from kenning.audiences.audience import parse_audience
from kenning.audiences.membership import (
    ENTERED,
    EXITED,
    Change,
    apply_batch,
    apply_changes,
    evaluate_people,
)
from kenning.audiences.realtime import AudienceEvaluator, batch_evaluate
from kenning.identity.rebuild import rebuild_identity
from kenning.ingest.pipeline import prepare_messages
from kenning.spec.limits import Limits
from kenning.store.store import Store


def until(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Poll ``check`` until it holds; the bound is generous, not a target."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def write(store: Store, *messages: dict[str, Any]) -> None:
    prepared = prepare_messages(
        list(messages), source_id="src", received_at=datetime.now(UTC), limits=Limits()
    )
    assert not prepared.rejections, prepared.rejections
    store.write_events(prepared.events).result()


def declare(store: Store, name: str, condition: dict[str, Any]) -> None:
    audience = parse_audience({"name": name, "condition": condition})
    store.writer.run(
        lambda con: store.audiences.declare(con, audience), changes_stages=True
    ).result()


def members(store: Store, audience: str) -> set[int]:
    with store.reader() as con:
        rows = con.execute(
            "SELECT profile_id FROM __kenning_audience_members WHERE audience = ?", [audience]
        ).fetchall()
    return {int(p) for (p,) in rows}


def changes(store: Store, audience: str) -> list[tuple[int, str, str]]:
    """(profile, change, cause), in the order recorded."""
    with store.reader() as con:
        rows = con.execute(
            """SELECT profile_id, change, cause FROM __kenning_audience_changes
               WHERE audience = ? ORDER BY id""",
            [audience],
        ).fetchall()
    return [(int(p), str(c), str(k)) for p, c, k in rows]


def batches(store: Store) -> int:
    with store.reader() as con:
        row = con.execute(
            "SELECT count(DISTINCT measured_at) FROM __kenning_audience_sizes WHERE cause = 'batch'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def profile_of(store: Store, kind: str, value: str) -> int:
    with store.reader() as con:
        row = con.execute(
            "SELECT profile_id FROM kenning_identifiers WHERE type = ? AND value = ?", [kind, value]
        ).fetchone()
    assert row is not None, value
    return int(row[0])


def start(store: Store) -> None:
    """Start the evaluator and wait for its first batch, so what follows is real time."""
    store.evaluate_audiences(batch_minutes=60)
    assert until(lambda: batches(store) >= 1)


def consent(granted: bool) -> dict[str, Any]:
    return {"consent": {"categoryPreferences": {"marketing_email": granted}}}


PRO_AND_MAILABLE = {"all": [{"trait": "plan", "eq": "pro"}, {"consent": "marketing_email"}]}


def test_a_person_enters_and_leaves_as_events_arrive(store: Store) -> None:
    declare(store, "pro_mail", PRO_AND_MAILABLE)
    declare(
        store, "pro_mail_fan", {"all": [{"audience": "pro_mail"}, {"trait": "fan", "eq": True}]}
    )
    start(store)
    write(store, {"type": "identify", "userId": "u1", "traits": {"plan": "pro", "fan": True}})
    person = profile_of(store, "user_id", "u1")
    evaluator = store.audience_evaluator
    assert evaluator is not None
    seen = evaluator.evaluations
    assert until(lambda: evaluator.evaluations >= seen + 2)
    assert members(store, "pro_mail") == set()  # evaluated: no consent yet
    write(store, {"type": "identify", "userId": "u1", "context": consent(True)})
    assert until(lambda: members(store, "pro_mail") == {person})
    # One evaluation, in dependency order: the audience reading the other enters too.
    assert until(lambda: members(store, "pro_mail_fan") == {person})
    assert changes(store, "pro_mail") == [(person, ENTERED, "realtime")]
    assert changes(store, "pro_mail_fan") == [(person, ENTERED, "realtime")]

    # Consent withdrawn: out of both.
    write(store, {"type": "track", "userId": "u1", "event": "Opted Out", "context": consent(False)})
    assert until(lambda: not members(store, "pro_mail") and not members(store, "pro_mail_fan"))
    assert changes(store, "pro_mail")[-1] == (person, EXITED, "realtime")
    assert changes(store, "pro_mail_fan")[-1] == (person, EXITED, "realtime")

    # Granted again, then a trait change takes them out.
    write(store, {"type": "identify", "userId": "u1", "context": consent(True)})
    assert until(lambda: members(store, "pro_mail") == {person})
    write(store, {"type": "identify", "userId": "u1", "traits": {"plan": "free"}})
    assert until(lambda: not members(store, "pro_mail"))
    assert changes(store, "pro_mail") == [
        (person, ENTERED, "realtime"),
        (person, EXITED, "realtime"),
        (person, ENTERED, "realtime"),
        (person, EXITED, "realtime"),
    ]


def test_an_unrelated_event_records_no_change(store: Store) -> None:
    declare(store, "pro", {"trait": "plan", "eq": "pro"})
    start(store)
    write(store, {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}})
    assert until(lambda: len(changes(store, "pro")) == 1)
    evaluator = store.audience_evaluator
    assert evaluator is not None
    write(store, {"type": "track", "userId": "u1", "event": "Page Liked"})
    seen = evaluator.evaluations
    # Two evaluations started after the commit: the event's person has been evaluated.
    assert until(lambda: evaluator.evaluations >= seen + 2)
    assert len(changes(store, "pro")) == 1


def test_an_event_node_counts_events_as_they_arrive(store: Store) -> None:
    declare(store, "repeat", {"event": "Order Completed", "within": "30d", "at_least": 2})
    declare(store, "never", {"event": "Order Completed", "performed": False})
    start(store)
    order = {"type": "track", "userId": "u1", "event": "Order Completed"}
    write(store, {"type": "identify", "userId": "u1"})
    person = profile_of(store, "user_id", "u1")
    assert until(lambda: members(store, "never") == {person})
    write(store, order)
    assert until(lambda: not members(store, "never"))
    assert members(store, "repeat") == set()  # one order is not two
    write(store, order)
    assert until(lambda: members(store, "repeat") == {person})
    assert changes(store, "repeat") == [(person, ENTERED, "realtime")]


def test_a_merge_takes_the_profile_merged_away_out(store: Store) -> None:
    declare(store, "pro", {"trait": "plan", "eq": "pro"})
    declare(store, "mailable", {"consent": "marketing_email"})
    start(store)
    write(store, {"type": "identify", "anonymousId": "browser", "traits": {"plan": "pro"}})
    write(store, {"type": "identify", "userId": "u1", "context": consent(True)})
    anonymous = profile_of(store, "anonymous_id", "browser")
    known = profile_of(store, "user_id", "u1")
    assert anonymous != known
    assert until(lambda: members(store, "pro") == {anonymous})
    assert until(lambda: members(store, "mailable") == {known})

    write(store, {"type": "identify", "anonymousId": "browser", "userId": "u1"})
    with store.reader() as con:
        ((merged, kept),) = con.execute(
            "SELECT profile_id, canonical_id FROM __kenning_profile_redirects"
        ).fetchall()
    assert {merged, kept} == {anonymous, known}
    # The kept profile has both: the plan of one, the consent of the other.
    assert until(lambda: members(store, "pro") == {kept} and members(store, "mailable") == {kept})
    # The id merged away was in one of the two (whichever it was): it left it.
    merged_changes = [
        c for name in ("pro", "mailable") for c in changes(store, name) if c[0] == merged
    ]
    assert merged_changes == [(merged, ENTERED, "realtime"), (merged, EXITED, "realtime")]
    # Later events reach the kept profile; the merged id never comes back.
    write(store, {"type": "identify", "anonymousId": "browser", "context": consent(False)})
    assert until(lambda: members(store, "mailable") == set())
    assert members(store, "pro") == {kept}
    assert all(p != merged for name in ("pro", "mailable") for p in members(store, name))


def test_evaluating_people_retires_ids_merged_away(store: Store) -> None:
    """``evaluate_people`` given an id merged away: it leaves what it was in, and the kept
    profile is evaluated in its place."""
    declare(store, "pro", {"trait": "plan", "eq": "pro"})
    write(store, {"type": "identify", "anonymousId": "browser", "traits": {"plan": "pro"}})
    write(store, {"type": "identify", "userId": "u1"})
    write(store, {"type": "identify", "anonymousId": "browser", "userId": "u1"})
    with store.reader() as con:
        ((merged, kept),) = con.execute(
            "SELECT profile_id, canonical_id FROM __kenning_profile_redirects"
        ).fetchall()
    now = datetime.now(UTC)
    # Recorded by real time before it knew of the merge.
    store.writer.run(
        lambda con: apply_changes(con, [Change("pro", merged, ENTERED)], now, "realtime")
    ).result()
    with store.reader() as con:
        definitions = list(store.computed.definitions.values())
        found = evaluate_people(con, [merged], store.audiences.audiences, definitions, now)
    assert found == [Change("pro", merged, EXITED), Change("pro", kept, ENTERED)]


# -- batches and real time -------------------------------------------------------------------


def _found(*rows: tuple[str, int]) -> pa.Table:
    return pa.table(
        {
            "audience": pa.array([a for a, _ in rows], pa.string()),
            "profile_id": pa.array([p for _, p in rows], pa.int64()),
        }
    )


def test_a_batch_never_undoes_a_change_for_people_it_skips(store: Store) -> None:
    declare(store, "pro", {"trait": "plan", "eq": "pro"})
    for user in ("u1", "u2", "u3", "u4"):
        write(store, {"type": "identify", "userId": user})
    one, two, three, four = (profile_of(store, "user_id", u) for u in ("u1", "u2", "u3", "u4"))
    now = datetime.now(UTC)
    # Real time put one and two in.
    store.writer.run(
        lambda con: apply_changes(
            con, [Change("pro", one, ENTERED), Change("pro", two, ENTERED)], now, "realtime"
        )
    ).result()
    # A batch that read before that finds three and four, not one and two; one and three were
    # changed since it read.
    recorded = store.writer.run(
        lambda con: apply_batch(
            con, _found(("pro", three), ("pro", four)), ["pro"], now, skip={one, three}
        )
    ).result()
    assert recorded.count(ENTERED) == 1 and recorded.count(EXITED) == 1
    assert sorted(recorded.changes(), key=lambda c: c.profile_id) == [
        Change("pro", two, EXITED),
        Change("pro", four, ENTERED),
    ]
    assert members(store, "pro") == {one, four}
    assert changes(store, "pro")[2:] == [(two, EXITED, "batch"), (four, ENTERED, "batch")]
    with store.reader() as con:
        sizes = con.execute(
            """SELECT size, entered, exited, cause FROM __kenning_audience_sizes
               WHERE audience = 'pro'"""
        ).fetchall()
    assert sizes == [(2, 1, 1, "batch")]


def test_a_batch_leaves_people_not_yet_evaluated_to_real_time(store: Store) -> None:
    """People whose commit the evaluator has not taken yet are pending: a batch skips them
    (what it read of them may be older than what real time will read)."""
    declare(store, "pro", {"trait": "plan", "eq": "pro"})
    write(store, {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}})
    store.audiences.take()  # u1 evaluated, as far as the stage knows
    write(store, {"type": "identify", "userId": "u2", "traits": {"plan": "pro"}})
    one, two = profile_of(store, "user_id", "u1"), profile_of(store, "user_id", "u2")
    assert store.audiences.pending() == {two}
    recorded = batch_evaluate(store, store.audiences)
    assert (len(recorded), recorded.count(ENTERED)) == (1, 1)
    assert changes(store, "pro") == [(one, ENTERED, "batch")]
    assert members(store, "pro") == {one}
    # Real time then takes two.
    touched, everyone = store.audiences.take()
    assert touched == {two} and not everyone
    with store.reader() as con:
        definitions = list(store.computed.definitions.values())
        found = evaluate_people(
            con, touched, store.audiences.audiences, definitions, datetime.now(UTC)
        )
    assert found == [Change("pro", two, ENTERED)]


def test_apply_changes_drops_what_is_already_so(store: Store) -> None:
    declare(store, "pro", {"trait": "plan", "eq": "pro"})
    write(store, {"type": "identify", "userId": "u1"})
    one = profile_of(store, "user_id", "u1")
    now = datetime.now(UTC)

    def apply(*given: Change) -> list[Change]:
        return store.writer.run(
            lambda con: apply_changes(con, list(given), now, "realtime")
        ).result()

    assert apply(Change("pro", one, EXITED)) == []  # not in: no exit
    assert apply(Change("pro", one, ENTERED)) == [Change("pro", one, ENTERED)]
    assert apply(Change("pro", one, ENTERED)) == []  # in already: no second entry
    assert apply(Change("pro", one, EXITED)) == [Change("pro", one, EXITED)]
    assert changes(store, "pro") == [(one, ENTERED, "realtime"), (one, EXITED, "realtime")]


def _recompute(store: Store) -> None:
    store.writer.run(store.computed.recompute, changes_stages=True).result()


def _rebuild(store: Store) -> None:
    rebuild_identity(store)


@pytest.mark.parametrize("change_everyone", [_recompute, _rebuild], ids=["recompute", "rebuild"])
def test_a_recompute_or_a_rebuild_is_followed_by_a_batch(
    store: Store, change_everyone: Callable[[Store], None]
) -> None:
    declare(store, "pro", {"trait": "plan", "eq": "pro"})
    declare(store, "buyer", {"computed": "orders_count", "gte": 1})
    start(store)
    write(store, {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}})
    write(store, {"type": "track", "userId": "u1", "event": "Order Completed"})
    person = profile_of(store, "user_id", "u1")
    assert until(lambda: members(store, "pro") == {person} and members(store, "buyer") == {person})
    # Membership lost behind real time's back (as a crash might): only a batch finds it.
    store.writer.run(lambda con: con.execute("DELETE FROM __kenning_audience_members")).result()
    before = batches(store)
    change_everyone(store)
    assert until(lambda: batches(store) > before)
    assert until(lambda: members(store, "pro") == {person} and members(store, "buyer") == {person})
    assert changes(store, "pro")[-1] == (person, ENTERED, "batch")
    assert changes(store, "buyer")[-1] == (person, ENTERED, "batch")


def test_a_windowed_event_node_is_counted_again_by_a_batch(store: Store) -> None:
    """An event leaves a window as time passes: the windows are refreshed (a recompute of the
    windowed traits) and the batch that follows takes the person out."""
    declare(store, "recent", {"event": "Order Completed", "within": "7d"})
    start(store)
    write(store, {"type": "track", "userId": "u1", "event": "Order Completed"})
    person = profile_of(store, "user_id", "u1")
    assert until(lambda: members(store, "recent") == {person})
    later = datetime.now(UTC) + timedelta(days=400)
    store.writer.run(
        lambda con: store.computed.refresh_windows(con, later), changes_stages=True
    ).result()
    assert until(lambda: members(store, "recent") == set())
    assert changes(store, "recent") == [(person, ENTERED, "realtime"), (person, EXITED, "batch")]


def test_people_whose_evaluation_failed_are_evaluated_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    declare(store, "pro", {"trait": "plan", "eq": "pro"})
    evaluator = AudienceEvaluator(store, store.audiences, batch_minutes=60)
    evaluator.run_once()  # the first batch; real time from here on
    write(store, {"type": "identify", "userId": "u9", "traits": {"plan": "pro"}})
    person = profile_of(store, "user_id", "u9")
    real = realtime.evaluate_people_now

    def failing(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(realtime, "evaluate_people_now", real)  # fails once
        raise RuntimeError("reader lost")

    monkeypatch.setattr(realtime, "evaluate_people_now", failing)
    with pytest.raises(RuntimeError):
        evaluator.run_once()
    assert members(store, "pro") == set()
    evaluator.run_once()  # the person taken before the failure was handed back
    assert members(store, "pro") == {person}
    assert changes(store, "pro") == [(person, ENTERED, "realtime")]


def test_a_batch_wanted_while_one_runs_is_not_lost(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audience declared while a batch reads (which asks for everyone again) gets a batch
    of its own after it: the one running may have read before the audience existed."""
    declare(store, "pro", {"trait": "plan", "eq": "pro"})
    write(store, {"type": "identify", "userId": "u1", "traits": {"plan": "pro", "tier": "gold"}})
    evaluator = AudienceEvaluator(store, store.audiences, batch_minutes=60)
    real = realtime.batch_evaluate

    def declaring_meanwhile(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(realtime, "batch_evaluate", real)
        recorded = real(*args, **kwargs)
        store.audiences.want_everyone()  # as declaring an audience during the batch does
        return recorded

    monkeypatch.setattr(realtime, "batch_evaluate", declaring_meanwhile)
    evaluator.run_once()
    _, everyone = store.audiences.take()
    assert everyone, "the batch wanted during the first was dropped"
