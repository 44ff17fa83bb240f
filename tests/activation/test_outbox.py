"""The outbox on a real DuckDB file: a cause owes one delivery however often it is recorded;
what may be sent now keeps each profile's order per destination (a retry not yet due, or a
campaign message not yet given its channel, holds that profile's later rows; nothing else
does); attempts, dead letters and replays are recorded; and what an attempt's outcome makes
of its delivery (``settle``, ``retry_wait``: backoff, jitter, Retry-After, the horizon)."""

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from kenning.activation.delivery import NOT_ATTEMPTED, DeliverySettings, retry_wait, settle
from kenning.activation.destinations.base import (
    NOT_ATTEMPTED_ORDER,
    NOT_ATTEMPTED_UNREACHABLE,
    Delivery,
    Outcome,
)
from kenning.activation.outbox import (
    DEAD,
    DELIVERED,
    HOLDOUT,
    PENDING,
    SCHEDULED,
    SUPPRESSED,
    Attempted,
    Decision,
    Owed,
    decide,
    drop_queued,
    due_for,
    lowest_open_id,
    owe,
    record,
    replay,
    scheduled_due,
)
from kenning.store.migrations import migrate

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


@pytest.fixture()
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(tmp_path / "outbox.duckdb"))
    migrate(connection)
    yield connection
    connection.close()


def owed(
    key: str,
    profile_id: int | None,
    seconds: float,
    destination: str = "hook",
    status: str = PENDING,
    **payload: Any,
) -> Owed:
    return Owed(
        key,
        destination if status == PENDING else "",
        profile_id,
        "event" if status == PENDING else "message",
        orjson.dumps({"key": key, **payload}).decode(),
        T0 + timedelta(seconds=seconds),
        campaign=None if status == PENDING else "offer",
        status=status,
    )


def ids_of(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    rows = con.execute("SELECT idempotency_key, id FROM __kenning_outbox").fetchall()
    return {str(k): int(i) for k, i in rows}


def due(
    con: duckdb.DuckDBPyConnection,
    destination: str = "hook",
    now: datetime = T0 + timedelta(minutes=1),
    low: int = 0,
    limit: int = 100,
) -> list[str]:
    return [d.idempotency_key for d in due_for(con, destination, now, low, limit)]


def attempted(
    delivery_id: int,
    status: str,
    attempt: int = 1,
    *,
    retry_at: datetime | None = None,
    code: int | None = 500,
    response: str | None = None,
    destination: str = "hook",
) -> Attempted:
    attempt_status = {PENDING: "retry", DEAD: "failed", DELIVERED: "delivered"}[status]
    return Attempted(
        id=delivery_id,
        destination=destination,
        attempt=attempt,
        attempt_status=attempt_status,
        status=status,
        code=code,
        detail=f"HTTP {code}",
        at=T0 + timedelta(seconds=30),
        milliseconds=3.5,
        next_attempt_at=retry_at,
        response=response,
    )


def row(con: duckdb.DuckDBPyConnection, delivery_id: int) -> dict[str, Any]:
    cursor = con.execute("SELECT * FROM __kenning_outbox WHERE id = ?", [delivery_id])
    names = [d[0] for d in cursor.description]
    (found,) = cursor.fetchall()
    return dict(zip(names, found, strict=True))


# -- owing ------------------------------------------------------------------------------------


def test_a_cause_owes_one_delivery_however_often_it_is_recorded(
    con: duckdb.DuckDBPyConnection,
) -> None:
    assert owe(con, [owed("a", 1, 0), owed("b", 1, 1)], T0) == 2
    assert owe(con, [owed("a", 1, 5), owed("c", 2, 2)], T0) == 1
    assert owe(con, [owed("a", 1, 0), owed("b", 1, 0), owed("c", 2, 0)], T0) == 0
    assert owe(con, [], T0) == 0
    assert sorted(ids_of(con)) == ["a", "b", "c"]
    # The first record of "a" stands; the repeat changed nothing.
    first = row(con, ids_of(con)["a"])
    assert first["scheduled_at"] == T0
    assert orjson.loads(first["payload"]) == {"key": "a"}


def test_a_delivery_is_written_pending_and_due_when_owed(con: duckdb.DuckDBPyConnection) -> None:
    owe(con, [owed("a", 7, 3, total=25)], T0)
    written = row(con, ids_of(con)["a"])
    assert written["status"] == PENDING
    assert written["attempts"] == 0
    assert written["created_at"] == T0
    assert written["scheduled_at"] == written["next_attempt_at"] == T0 + timedelta(seconds=3)
    assert written["destination"] == "hook"
    assert written["profile_id"] == 7
    assert written["finished_at"] is None


def test_deliveries_owed_together_keep_their_order(con: duckdb.DuckDBPyConnection) -> None:
    keys = [f"k{i:05}" for i in range(5_000)]
    owe(con, [owed(k, i % 13, 0) for i, k in enumerate(keys)], T0)
    ordered = con.execute("SELECT idempotency_key FROM __kenning_outbox ORDER BY id").fetchall()
    assert [k for (k,) in ordered] == keys


# -- what may be sent now, in order -----------------------------------------------------------


@pytest.fixture()
def queue(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Profile 1: a1 a2 a3 to hook, o1 (between a1 and a2) to other; profile 2: b1 b2 to hook;
    no profile: n1 n2 to hook."""
    owe(
        con,
        [
            owed("a1", 1, 0),
            owed("b1", 2, 1),
            owed("o1", 1, 2, destination="other"),
            owed("a2", 1, 3),
            owed("n1", None, 4),
            owed("b2", 2, 5),
            owed("a3", 1, 6),
            owed("n2", None, 7),
        ],
        T0,
    )
    return ids_of(con)


def test_everything_due_goes_in_order(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    assert due(con) == ["a1", "b1", "a2", "n1", "b2", "a3", "n2"]
    assert due(con, "other") == ["o1"]
    assert due(con, "nowhere") == []


def test_a_delivery_is_what_the_outbox_holds(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    first = due_for(con, "hook", T0 + timedelta(minutes=1), 0, 1)
    assert first == [
        Delivery(
            id=queue["a1"],
            idempotency_key="a1",
            destination="hook",
            profile_id=1,
            kind="event",
            payload={"key": "a1"},
            created_at=T0,
            attempt=1,
        )
    ]


def test_nothing_is_due_before_its_time(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    assert due(con, now=T0 + timedelta(seconds=3)) == ["a1", "b1", "a2"]


def test_the_limit_and_the_low_id_bound_the_answer(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    assert due(con, limit=3) == ["a1", "b1", "a2"]
    assert due(con, low=queue["a2"]) == ["a2", "n1", "b2", "a3", "n2"]


def test_a_retry_not_yet_due_holds_that_profiles_later_rows_on_that_destination(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    retry_at = T0 + timedelta(minutes=5)
    record(con, [attempted(queue["a1"], PENDING, retry_at=retry_at)])
    # Profile 1 waits on hook; profile 2, the rows of no profile and the other destination
    # do not.
    assert due(con) == ["b1", "n1", "b2", "n2"]
    assert due(con, "other") == ["o1"]
    # Once the retry is due, profile 1 goes again, in order, the retry first.
    assert due(con, now=retry_at) == ["a1", "b1", "a2", "n1", "b2", "a3", "n2"]
    assert due_for(con, "hook", retry_at, 0, 1)[0].attempt == 2


def test_a_later_retry_holds_only_what_comes_after_it(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    record(con, [attempted(queue["a1"], DELIVERED, code=200)])
    record(con, [attempted(queue["a2"], PENDING, retry_at=T0 + timedelta(hours=1))])
    assert due(con) == ["b1", "n1", "b2", "n2"]
    record(con, [attempted(queue["b2"], PENDING, retry_at=T0 + timedelta(hours=1))])
    assert due(con) == ["b1", "n1", "n2"]


def test_a_retry_of_a_delivery_without_a_profile_holds_nothing_else(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    record(con, [attempted(queue["n1"], PENDING, retry_at=T0 + timedelta(hours=1))])
    assert due(con) == ["a1", "b1", "a2", "b2", "a3", "n2"]


def test_a_due_campaign_message_holds_the_profiles_later_rows_everywhere(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    # Its channel (so its destination) is not chosen yet: it may go to either.
    owe(con, [owed("m1", 1, 2.5, status=SCHEDULED), owed("o2", 1, 8, destination="other")], T0)
    assert due(con) == ["a1", "b1", "n1", "b2", "n2"]
    assert due(con, "other") == ["o1"]  # o1 came before it, o2 after
    # Not yet due, it holds nothing (what comes after it is not due either).
    assert due(con, now=T0 + timedelta(seconds=2.4)) == ["a1", "b1"]


def test_a_campaign_message_decided_no_longer_holds(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    owe(con, [owed("m1", 1, 2.5, status=SCHEDULED)], T0)
    message = ids_of(con)["m1"]
    decide(con, [Decision(message, SUPPRESSED, "in exclusion audience bought")], T0)
    assert due(con) == ["a1", "b1", "a2", "n1", "b2", "a3", "n2"]


def test_a_campaign_message_given_a_destination_goes_in_its_place(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    owe(con, [owed("m1", 1, 2.5, status=SCHEDULED)], T0)
    message = ids_of(con)["m1"]
    payload = {"campaign": "offer", "channel": "webhook", "body": "hi"}
    decide(
        con,
        [Decision(message, PENDING, None, "hook", "webhook", payload, T0 + timedelta(seconds=2.5))],
        T0,
    )
    assert due(con) == ["a1", "b1", "m1", "a2", "n1", "b2", "a3", "n2"]
    sent = {d.idempotency_key: d for d in due_for(con, "hook", T0 + timedelta(minutes=1), 0, 9)}
    assert sent["m1"].payload == payload
    assert sent["m1"].kind == "message"


def test_dead_and_delivered_rows_hold_nothing(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    record(con, [attempted(queue["a1"], DEAD, code=400, response="no")])
    record(con, [attempted(queue["b1"], DELIVERED, code=200)])
    assert due(con) == ["a2", "n1", "b2", "a3", "n2"]


# -- campaign messages and the policy's decisions ---------------------------------------------


def test_scheduled_messages_come_due_in_time_order(con: duckdb.DuckDBPyConnection) -> None:
    owe(
        con,
        [
            owed("late", 1, 60, status=SCHEDULED, kind="event"),
            owed("early", 2, 10, status=SCHEDULED, kind="audience"),
            owed("event", 2, 0),
        ],
        T0,
    )
    assert scheduled_due(con, T0, 0, 10) == []
    found = scheduled_due(con, T0 + timedelta(seconds=60), 0, 10)
    assert [(s.idempotency_key, s.campaign, s.profile_id) for s in found] == [
        ("early", "offer", 2),
        ("late", "offer", 1),
    ]
    assert found[0].trigger == {"key": "early", "kind": "audience"}
    assert found[0].scheduled_at == T0 + timedelta(seconds=10)
    assert [s.idempotency_key for s in scheduled_due(con, T0 + timedelta(hours=1), 0, 1)] == [
        "early"
    ]


def test_decisions_are_recorded(con: duckdb.DuckDBPyConnection) -> None:
    owe(
        con,
        [owed(k, 1, i, status=SCHEDULED) for i, k in enumerate(["send", "stop", "held", "wait"])],
        T0,
    )
    ids = ids_of(con)
    quiet_end = T0 + timedelta(hours=8)
    payload = {"campaign": "offer", "channel": "email", "body": "hi"}
    now = T0 + timedelta(minutes=1)
    decide(
        con,
        [
            Decision(ids["send"], PENDING, None, "smtp", "email", payload, T0),
            Decision(ids["stop"], SUPPRESSED, "frequency cap on email"),
            Decision(ids["held"], HOLDOUT, "in the control group"),
            Decision(ids["wait"], SCHEDULED, "quiet hours", scheduled_at=quiet_end),
        ],
        now,
    )
    send, stop, held, wait = (row(con, ids[k]) for k in ("send", "stop", "held", "wait"))
    assert (send["status"], send["destination"], send["channel"]) == (PENDING, "smtp", "email")
    assert orjson.loads(send["payload"]) == payload
    assert send["next_attempt_at"] == T0 and send["finished_at"] is None
    assert (stop["status"], stop["detail"], stop["finished_at"]) == (
        SUPPRESSED,
        "frequency cap on email",
        now,
    )
    assert orjson.loads(stop["payload"]) == {"key": "stop"}  # the trigger is kept
    assert (held["status"], held["finished_at"]) == (HOLDOUT, now)
    assert (wait["status"], wait["detail"]) == (SCHEDULED, "quiet hours")
    assert wait["scheduled_at"] == wait["next_attempt_at"] == quiet_end
    assert wait["finished_at"] is None
    assert [s.idempotency_key for s in scheduled_due(con, now, 0, 10)] == []
    assert [s.idempotency_key for s in scheduled_due(con, quiet_end, 0, 10)] == ["wait"]


def test_a_decision_changes_only_a_row_still_scheduled(con: duckdb.DuckDBPyConnection) -> None:
    owe(con, [owed("m", 1, 0, status=SCHEDULED)], T0)
    message = ids_of(con)["m"]
    decide(con, [Decision(message, SUPPRESSED, "campaign removed or disabled")], T0)
    decide(con, [Decision(message, PENDING, None, "hook", "webhook", {"body": "x"}, T0)], T0)
    assert row(con, message)["status"] == SUPPRESSED
    assert row(con, message)["destination"] == ""


# -- attempts, dead letters and replays -------------------------------------------------------


def attempts_of(con: duckdb.DuckDBPyConnection, delivery_id: int) -> list[tuple[Any, ...]]:
    return con.execute(
        """SELECT attempt, status, code, detail, milliseconds FROM __kenning_delivery_attempts
           WHERE delivery_id = ? ORDER BY attempt""",
        [delivery_id],
    ).fetchall()


def dead_letters(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.execute(
        """SELECT delivery_id, destination, code, detail, response, replayed_at
           FROM __kenning_dead_letters ORDER BY delivery_id, dead_at"""
    ).fetchall()


def test_attempts_are_recorded_and_a_refusal_is_a_dead_letter(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    a1, b1 = queue["a1"], queue["b1"]
    retry_at = T0 + timedelta(seconds=40)
    record(
        con,
        [
            attempted(a1, PENDING, retry_at=retry_at, code=503),
            attempted(b1, DEAD, code=400, response='{"error": "bad"}'),
        ],
    )
    assert (row(con, a1)["status"], row(con, a1)["attempts"]) == (PENDING, 1)
    assert row(con, a1)["next_attempt_at"] == retry_at
    assert row(con, a1)["finished_at"] is None
    assert (row(con, b1)["status"], row(con, b1)["code"]) == (DEAD, 400)
    assert row(con, b1)["finished_at"] == T0 + timedelta(seconds=30)
    record(con, [attempted(a1, DELIVERED, 2, code=200)])
    assert row(con, a1)["status"] == DELIVERED
    assert row(con, a1)["attempts"] == 2
    assert row(con, a1)["finished_at"] == T0 + timedelta(seconds=30)
    assert attempts_of(con, a1) == [
        (1, "retry", 503, "HTTP 503", 3.5),
        (2, "delivered", 200, "HTTP 200", 3.5),
    ]
    assert attempts_of(con, b1) == [(1, "failed", 400, "HTTP 400", 3.5)]
    assert dead_letters(con) == [(b1, "hook", 400, "HTTP 400", '{"error": "bad"}', None)]


def test_an_attempt_not_made_is_not_recorded_as_one(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    a2 = queue["a2"]
    not_made = Attempted(
        a2, "hook", 0, NOT_ATTEMPTED, PENDING, None, NOT_ATTEMPTED_ORDER, T0, 0.0, T0
    )
    record(con, [not_made])
    assert attempts_of(con, a2) == []
    assert (row(con, a2)["status"], row(con, a2)["attempts"]) == (PENDING, 0)


def test_a_replay_puts_dead_rows_back_and_marks_their_letters(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    a1, b1, a2, o1 = queue["a1"], queue["b1"], queue["a2"], queue["o1"]
    record(
        con,
        [
            attempted(a1, DEAD, code=400),
            attempted(b1, DEAD, code=404),
            attempted(a2, DELIVERED, code=200),
            attempted(o1, DEAD, code=410, destination="other"),
        ],
    )
    assert due(con) == ["n1", "b2", "a3", "n2"]
    later = T0 + timedelta(hours=2)
    # Only dead rows are replayed: a2 was delivered, 999 is no row.
    assert replay(con, later, ids=[b1, a2, 999]) == [b1]
    assert (row(con, b1)["status"], row(con, b1)["next_attempt_at"]) == (PENDING, later)
    assert row(con, b1)["finished_at"] is None
    assert row(con, a2)["status"] == DELIVERED
    assert replay(con, later, destination="hook") == [a1]
    assert row(con, o1)["status"] == DEAD
    assert due(con, now=later) == ["a1", "b1", "n1", "b2", "a3", "n2"]
    assert due_for(con, "hook", later, 0, 1)[0].attempt == 2
    replayed = {d: r for d, _, _, _, _, r in dead_letters(con)}
    assert replayed == {a1: later, b1: later, o1: None}
    assert replay(con, later, ids=[a1, b1]) == []


def test_a_bound_read_before_a_replay_leaves_no_replayed_row_behind(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    record(
        con,
        [
            attempted(queue["a1"], DEAD, code=400),
            attempted(queue["b1"], DEAD, code=400),
            attempted(queue["a2"], DEAD, code=400),
            attempted(queue["n1"], DELIVERED, code=200),
        ],
    )
    # A sender read its bound before the replay committed: everything below b2 was finished.
    low = queue["b2"]
    replay(con, T0, ids=[queue["a1"], queue["a2"]])
    # The replayed rows go, and first: a3 must not overtake them.
    assert due(con, low=low) == ["a1", "a2", "b2", "a3", "n2"]


def test_a_replayed_delivery_that_dies_again_gets_a_new_letter(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    a1 = queue["a1"]
    record(con, [attempted(a1, DEAD, code=400, response="first")])
    first_replay = T0 + timedelta(hours=1)
    replay(con, first_replay, ids=[a1])
    record(con, [attempted(a1, DEAD, 2, code=422, response="second")])
    letters = [(code, response, at) for _, _, code, _, response, at in dead_letters(con)]
    assert sorted(letters, key=lambda x: x[0]) == [
        (400, "first", first_replay),
        (422, "second", None),
    ]
    second_replay = T0 + timedelta(hours=2)
    assert replay(con, second_replay, ids=[a1]) == [a1]
    replayed = [(code, at) for _, _, code, _, _, at in dead_letters(con)]
    assert sorted(replayed, key=lambda x: x[0]) == [(400, first_replay), (422, second_replay)]


def test_a_removed_destinations_queue_is_dead_and_replayable(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    record(con, [attempted(queue["a1"], DELIVERED, code=200)])
    now = T0 + timedelta(hours=1)
    assert drop_queued(con, "hook", now) == 6
    assert due(con) == []
    assert due(con, "other") == ["o1"]
    assert row(con, queue["a1"])["status"] == DELIVERED
    letters = dead_letters(con)
    assert {d for d, *_ in letters} == {queue[k] for k in ("b1", "a2", "n1", "b2", "a3", "n2")}
    assert {(dest, code, detail) for _, dest, code, detail, _, _ in letters} == {
        ("hook", None, "destination removed")
    }
    assert len(replay(con, now, destination="hook")) == 6
    assert due(con, now=now) == ["b1", "a2", "n1", "b2", "a3", "n2"]


def test_the_lowest_open_id_moves_past_finished_rows(
    con: duckdb.DuckDBPyConnection, queue: dict[str, int]
) -> None:
    def lowest(above: int) -> int:
        with con.cursor() as reader:  # as the service reads it
            return lowest_open_id(reader, above)

    assert lowest(0) == queue["a1"]
    record(con, [attempted(queue["a1"], DELIVERED), attempted(queue["b1"], DEAD)])
    assert lowest(0) == queue["o1"]
    assert lowest(queue["a2"]) == queue["a2"]
    replay(con, T0, ids=[queue["b1"]])
    assert lowest(0) == queue["b1"]
    record(con, [attempted(i, DELIVERED) for i in queue.values()])
    assert lowest(queue["n2"]) == queue["n2"]  # none open: the bound given


# -- settle and retry_wait --------------------------------------------------------------------

SETTINGS = DeliverySettings(retry_horizon_hours=4, first_retry_seconds=2, longest_wait_seconds=60)


def delivery(attempt: int = 1, created_at: datetime = T0) -> Delivery:
    return Delivery(7, "k", "hook", 1, "event", {}, created_at, attempt)


def test_a_delivered_outcome_is_delivered() -> None:
    outcome = Outcome.delivered(200, "HTTP 200")
    settled = settle(delivery(), outcome, T0, SETTINGS, random.Random(1), 12.0)
    assert settled == Attempted(7, "hook", 1, "delivered", DELIVERED, 200, "HTTP 200", T0, 12.0)


def test_a_refusal_is_dead_with_its_response() -> None:
    outcome = Outcome.failed("HTTP 400", 400, response='{"error": "no"}')
    settled = settle(delivery(2), outcome, T0, SETTINGS, random.Random(1), 1.0)
    assert (settled.status, settled.attempt_status, settled.attempt) == (DEAD, "failed", 2)
    assert settled.response == '{"error": "no"}'
    assert settled.next_attempt_at is None


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 7, 8])
def test_a_retry_waits_exponentially_half_of_it_jittered(attempt: int) -> None:
    ceiling = min(60, 2 * 2 ** (attempt - 1))
    waits = [retry_wait(attempt, SETTINGS, None, random.Random(seed)) for seed in range(500)]
    assert all(ceiling / 2 <= w <= ceiling for w in waits)
    # The jitter spreads the waits over the upper half (500 uniform draws cover most of it).
    assert min(waits) < ceiling * 0.55 and max(waits) > ceiling * 0.95


def test_a_retry_is_pending_again_at_the_wait() -> None:
    outcome = Outcome.retry("HTTP 503", 503)
    settled = settle(delivery(3), outcome, T0, SETTINGS, random.Random(5), 1.0)
    expected = retry_wait(3, SETTINGS, None, random.Random(5))
    assert (settled.status, settled.attempt_status, settled.attempt) == (PENDING, "retry", 3)
    assert settled.next_attempt_at == T0 + timedelta(seconds=expected)
    assert 4 <= expected <= 8


def test_retry_after_is_honoured_when_longer() -> None:
    assert retry_wait(1, SETTINGS, 120.0, random.Random(1)) == 120.0
    assert 1 <= retry_wait(1, SETTINGS, 0.5, random.Random(1)) <= 2
    outcome = Outcome.retry("HTTP 429", 429, retry_after=600.0)
    settled = settle(delivery(), outcome, T0, SETTINGS, random.Random(1), 1.0)
    assert settled.next_attempt_at == T0 + timedelta(seconds=600)


def test_past_the_horizon_a_retry_gives_up() -> None:
    outcome = Outcome.retry("HTTP 503", 503, response="busy")
    old = T0 - timedelta(hours=4) + timedelta(seconds=20)
    # 20 s left of the horizon: attempt 7 waits 30 to 60 s (half of the 60 s cap jittered).
    settled = settle(delivery(7, old), outcome, T0, SETTINGS, random.Random(1), 1.0)
    assert settled.status == DEAD
    assert settled.attempt_status == "retry"
    assert settled.detail == "gave up after 7 attempts: HTTP 503"
    assert settled.response == "busy"
    # With time left for the wait, it is retried.
    fresh = settle(delivery(1, old), outcome, T0, SETTINGS, random.Random(1), 1.0)
    assert fresh.status == PENDING


def test_a_retry_after_past_the_horizon_gives_up() -> None:
    outcome = Outcome.retry("HTTP 429", 429, retry_after=5 * 3600.0)
    settled = settle(delivery(), outcome, T0, SETTINGS, random.Random(1), 1.0)
    assert settled.status == DEAD
    assert settled.detail == "gave up after 1 attempts: HTTP 429"


@pytest.mark.parametrize("detail", [NOT_ATTEMPTED_ORDER, NOT_ATTEMPTED_UNREACHABLE])
def test_a_delivery_not_attempted_is_pending_again_without_an_attempt(detail: str) -> None:
    settled = settle(delivery(3), Outcome.retry(detail), T0, SETTINGS, random.Random(1), 0.0)
    assert (settled.status, settled.attempt_status) == (PENDING, NOT_ATTEMPTED)
    assert settled.attempt == 2  # the attempts made so far
    assert settled.next_attempt_at == T0
