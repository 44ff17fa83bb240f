"""Faults end to end: a real store, the real delivery service, and real HTTP receivers on
loopback that answer each delivery (by its Idempotency-Key) from a script: ``[500, 500, 200]``,
``[400]``, a reply held back until the client times out, a receiver that goes away and comes
back. Whatever they do, every delivery is delivered (or dead, with the response kept), each
profile's deliveries are received in the order their events were written, no delivery is
accepted twice, and ingest never waits for a destination."""

import contextlib
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from kenning.activation.declared import parse_destination
from kenning.activation.delivery import DeliverySettings
from kenning.activation.destinations.base import DestinationContext
from kenning.activation.outbox import replay
from kenning.ingest.pipeline import prepare_messages
from kenning.spec.limits import Limits
from kenning.store.store import Store

CONTEXT = DestinationContext(allow_private=True)
# Fast retries, so that a test takes seconds; the waits still double and are jittered.
SETTINGS = DeliverySettings(first_retry_seconds=0.02, longest_wait_seconds=0.3, poll_seconds=0.02)
HANG = None  # a reply held back: the receiver never answers


@dataclass(frozen=True)
class Answer:
    """One request a receiver got, and what it answered (None: nothing)."""

    key: str
    profile_id: int
    user: str
    n: int  # the event's place among its user's events
    status: int | None


# What a receiver answers a delivery: the n-th request with a key gets the n-th reply (the last
# one repeats). It is given the webhook's envelope.
Script = Callable[[dict[str, Any]], Sequence[int | None]]


class Receiver:
    """A real HTTP server on loopback answering from a script and recording every answer.

    ``stop`` makes it unreachable: the listening socket is closed and so are the kept-alive
    connections (a stopped ``ThreadingHTTPServer`` would otherwise go on serving them)."""

    def __init__(self, script: Script, answers: list[Answer] | None = None, port: int = 0):
        self.script = script
        self.answers: list[Answer] = [] if answers is None else answers
        self._lock = threading.Lock()
        self._asked: Counter[str] = Counter()
        self._release = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/in"

    def reply(self, envelope: dict[str, Any]) -> int | None:
        key = envelope["id"]
        data = envelope["data"]
        with self._lock:
            replies = self.script(envelope)
            status = replies[min(self._asked[key], len(replies) - 1)]
            self._asked[key] += 1
            self.answers.append(
                Answer(key, envelope["profile_id"], data["userId"], data["properties"]["n"], status)
            )
        return status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle's algorithm the body waits
            # for the client's delayed ACK (40 ms on Linux) on every request.
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with receiver._lock:
                    receiver._connections.add(self.connection)

            def finish(self) -> None:
                with receiver._lock:
                    receiver._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.reply(orjson.loads(body))
                if status is HANG:
                    receiver._release.wait(30)
                    self.close_connection = True
                    return
                answer = b'{"error": "refused"}' if status >= 400 else b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join()


@pytest.fixture()
def receivers() -> Iterator[list[Receiver]]:
    """Receivers a test starts, stopped after it."""
    started: list[Receiver] = []
    yield started
    for receiver in started:
        receiver.stop()


def until(check: Callable[[], bool], seconds: float = 120.0) -> bool:
    """Poll ``check`` until it holds; the bound is generous, not a target."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def declare(store: Store, name: str, url: str, **config: Any) -> None:
    destination = parse_destination(
        {
            "name": name,
            "kind": "webhook",
            "config": {"url": url, "secret": "s" * 16, **config},
            "events": True,
        },
        context=CONTEXT,
    )
    store.writer.run(
        lambda con: store.activation.declare_destination(con, destination), changes_stages=True
    ).result()
    if store.delivery is not None:
        store.delivery.sync()


def write_round(store: Store, n: int, people: int) -> None:
    """Event ``n`` of each of ``people`` users, written (and acknowledged) together."""
    messages = [
        {
            "type": "track",
            "userId": f"u{p}",
            "event": "Step",
            "properties": {"n": n},
            "messageId": f"m-{p}-{n}",
        }
        for p in range(people)
    ]
    prepared = prepare_messages(
        messages, source_id="src", received_at=datetime.now(UTC), limits=Limits()
    )
    assert not prepared.rejections, prepared.rejections
    assert store.write_events(prepared.events).result().stored == people


def statuses(store: Store, destination: str) -> Counter[str]:
    with store.reader() as con:
        rows = con.execute(
            "SELECT status, count(*) FROM __kenning_outbox WHERE destination = ? GROUP BY ALL",
            [destination],
        ).fetchall()
    return Counter({str(s): int(n) for s, n in rows})


def stored_events(store: Store) -> int:
    with store.reader() as con:
        (count,) = con.execute("SELECT count(*) FROM __kenning_events").fetchall()[0]
    return int(count)


def received_in_order(answers: Sequence[Answer]) -> dict[str, list[int]]:
    """Per profile (named by its user), the events in the order they were accepted (answered
    2xx)."""
    profiles = {(a.user, a.profile_id) for a in answers}
    assert len(profiles) == len({user for user, _ in profiles}) == len({p for _, p in profiles})
    accepted: dict[str, list[int]] = defaultdict(list)
    for answer in answers:
        if answer.status is not None and 200 <= answer.status < 300:
            accepted[answer.user].append(answer.n)
    return dict(accepted)


def accepted_twice(answers: Sequence[Answer]) -> list[str]:
    counts = Counter(a.key for a in answers if a.status is not None and 200 <= a.status < 300)
    return sorted(key for key, n in counts.items() if n > 1)


def replies_by_key(answers: Sequence[Answer]) -> dict[str, list[int | None]]:
    replies: dict[str, list[int | None]] = defaultdict(list)
    for answer in answers:
        replies[answer.key].append(answer.status)
    return dict(replies)


def everyone(people: int, events: int) -> dict[str, list[int]]:
    return {f"u{p}": list(range(events)) for p in range(people)}


Letters = list[tuple[Any, ...]]
Tries = Counter[tuple[str, ...]]


def dead_letters_and_attempts(store: Store) -> tuple[Letters, Tries]:
    """The dead letters by code, detail and response (with their count), and how many
    deliveries had each sequence of attempt statuses."""
    with store.reader() as con:
        letters = con.execute(
            "SELECT code, detail, response, count(*) FROM __kenning_dead_letters GROUP BY ALL"
        ).fetchall()
        rows = con.execute(
            """SELECT list(status ORDER BY attempt) FROM __kenning_delivery_attempts
               GROUP BY delivery_id"""
        ).fetchall()
    return letters, Counter(tuple(sequence) for (sequence,) in rows)


PEOPLE, EVENTS = 50, 40
TOTAL = PEOPLE * EVENTS


def deliver_everyones_events(
    tmp_path: Path, receiver: Receiver, finished: str, **config: Any
) -> tuple[Letters, Tries]:
    """Every event of 50 people, 40 each, to ``receiver`` until each delivery is ``finished``
    (delivered or dead)."""
    with Store.open(tmp_path / "k.duckdb") as store:
        declare(store, "crm", receiver.url, **config)
        store.deliver(SETTINGS, CONTEXT)
        for n in range(EVENTS):
            write_round(store, n, PEOPLE)
        assert stored_events(store) == TOTAL
        assert until(lambda: statuses(store, "crm") == {finished: TOTAL}), statuses(store, "crm")
        return dead_letters_and_attempts(store)


def errors_first(envelope: dict[str, Any]) -> Sequence[int | None]:
    # Every other event is accepted at once: it must still wait for the one before it.
    return [500, 500, 200] if envelope["data"]["properties"]["n"] % 2 == 0 else [200]


def test_deliveries_retried_after_errors_arrive_once_in_order(
    tmp_path: Path, receivers: list[Receiver]
) -> None:
    receiver = Receiver(errors_first)
    receivers.append(receiver)
    letters, tries = deliver_everyones_events(tmp_path, receiver, "delivered")
    # Each profile's events were accepted in the order they were written, none twice.
    assert received_in_order(receiver.answers) == everyone(PEOPLE, EVENTS)
    assert accepted_twice(receiver.answers) == []
    # Every delivery was answered as scripted, and its attempts recorded so.
    replies = replies_by_key(receiver.answers)
    assert len(replies) == TOTAL
    assert Counter(map(tuple, replies.values())) == {
        (500, 500, 200): TOTAL // 2,
        (200,): TOTAL // 2,
    }
    assert tries == {("retry", "retry", "delivered"): TOTAL // 2, ("delivered",): TOTAL // 2}
    assert letters == []


def test_a_refused_delivery_is_dead_with_the_response_kept(
    tmp_path: Path, receivers: list[Receiver]
) -> None:
    receiver = Receiver(lambda envelope: [400])
    receivers.append(receiver)
    letters, tries = deliver_everyones_events(tmp_path, receiver, "dead")
    # A refusal is final: asked once, and a dead delivery holds none of its profile's others.
    replies = replies_by_key(receiver.answers)
    assert len(replies) == TOTAL
    assert set(map(tuple, replies.values())) == {(400,)}
    assert tries == {("failed",): TOTAL}
    assert letters == [(400, "HTTP 400", '{"error": "refused"}', TOTAL)]
    refused_in_order: dict[str, list[int]] = defaultdict(list)
    for answer in receiver.answers:
        refused_in_order[answer.user].append(answer.n)
    assert refused_in_order == everyone(PEOPLE, EVENTS)


def held_back(envelope: dict[str, Any]) -> bool:
    # Three deliveries, each held back once: every timeout costs the sender its full wait.
    data = envelope["data"]
    user, n = int(data["userId"][1:]), data["properties"]["n"]
    return user % 20 == 3 and n == user % EVENTS


def test_a_reply_held_back_is_a_timeout_retried_in_order(
    tmp_path: Path, receivers: list[Receiver]
) -> None:
    receiver = Receiver(lambda envelope: [HANG, 200] if held_back(envelope) else [200])
    receivers.append(receiver)
    # A timeout long enough that no reply given is taken for one on a busy machine.
    letters, tries = deliver_everyones_events(tmp_path, receiver, "delivered", timeout_seconds=2.5)
    assert received_in_order(receiver.answers) == everyone(PEOPLE, EVENTS)
    assert accepted_twice(receiver.answers) == []
    # Each one held back was asked again with the same key, and accepted then.
    replies = replies_by_key(receiver.answers)
    held = {key: r for key, r in replies.items() if r[0] is HANG}
    assert len(held) == 3
    assert set(map(tuple, held.values())) == {(HANG, 200)}
    assert len(replies) == TOTAL
    assert tries == {("delivered",): TOTAL - len(held), ("retry", "delivered"): len(held)}
    assert letters == []


def test_a_destination_down_for_a_while_gets_everything_in_order_when_back(
    tmp_path: Path, receivers: list[Receiver]
) -> None:
    people, before, during = 20, 10, 10
    answers: list[Answer] = []
    first = Receiver(lambda envelope: [200], answers)
    port = first.port
    with Store.open(tmp_path / "k.duckdb") as store:
        declare(store, "crm", first.url)
        store.deliver(SETTINGS, CONTEXT)
        for n in range(before):
            write_round(store, n, people)
        assert until(lambda: statuses(store, "crm") == {"delivered": people * before})

        first.stop()
        # Down: events are written and acknowledged as ever; their deliveries wait.
        for n in range(before, before + during):
            write_round(store, n, people)
        total = people * (before + during)
        assert stored_events(store) == total

        def refused_attempts() -> int:
            with store.reader() as con:
                (count,) = con.execute(
                    """SELECT count(*) FROM __kenning_delivery_attempts
                       WHERE status = 'retry' AND code IS NULL"""
                ).fetchall()[0]
            return int(count)

        assert until(lambda: refused_attempts() >= 3)
        assert statuses(store, "crm")["delivered"] == people * before
        receivers.append(Receiver(lambda envelope: [200], answers, port=port))

        assert until(lambda: statuses(store, "crm") == {"delivered": total})
        assert stored_events(store) == total

    assert received_in_order(answers) == everyone(people, before + during)
    assert accepted_twice(answers) == []
    assert len(answers) == total  # nothing reached a receiver that was not there


def test_a_refused_delivery_replayed_is_delivered_when_the_receiver_accepts(
    tmp_path: Path, receivers: list[Receiver]
) -> None:
    people, events = 10, 10
    total = people * events
    refusals = Receiver(lambda envelope: [400])
    receivers.append(refusals)
    with Store.open(tmp_path / "k.duckdb") as store:
        declare(store, "crm", refusals.url)
        delivery = store.deliver(SETTINGS, CONTEXT)
        for n in range(events):
            write_round(store, n, people)
        assert until(lambda: statuses(store, "crm") == {"dead": total})
        assert received_in_order(refusals.answers) == {}

        refusals.script = lambda envelope: [200]
        now = datetime.now(UTC)
        replayed = store.writer.run(lambda con: replay(con, now, destination="crm")).result()
        assert len(replayed) == total
        delivery.replayed()
        assert until(lambda: statuses(store, "crm") == {"delivered": total})

        with store.reader() as con:
            letters = con.execute(
                """SELECT count(*), count(replayed_at), min(replayed_at), max(replayed_at)
                   FROM __kenning_dead_letters"""
            ).fetchall()
            tries = con.execute(
                """SELECT list(status ORDER BY attempt), count(*) FROM __kenning_delivery_attempts
                   GROUP BY delivery_id"""
            ).fetchall()
    assert letters == [(total, total, now, now)]
    assert {tuple(s) for s, _ in tries} == {("failed", "delivered")}
    assert received_in_order(refusals.answers) == everyone(people, events)
    assert accepted_twice(refusals.answers) == []
    assert set(map(tuple, replies_by_key(refusals.answers).values())) == {(400, 200)}
