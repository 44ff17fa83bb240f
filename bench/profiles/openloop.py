"""An open-loop HTTP load generator: requests sent on a fixed schedule, whatever the answers.

wrk (installed) sends the next request when the last one answers, so a slow server is simply
asked less and its queueing never shows (coordinated omission); wrk2, which keeps a rate, is not
packaged. This client keeps the schedule: request ``n`` is due at ``start + n / rate``; it goes
out on the first free keep-alive connection, and its latency is counted from when it was due,
so time spent waiting for a connection (the server being behind) is part of it.

Raw HTTP/1.1 over asyncio streams (uvloop when installed), GET only, bodies read by
Content-Length: about the least Python can do per request. It runs on the same machine as the
server and takes CPU from it; that cost is the same for Kenning's route and the null one.
"""

import asyncio
import contextlib
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

try:
    import uvloop
except ImportError:  # pragma: no cover - uvicorn[standard] brings it
    uvloop = None  # type: ignore[assignment]


@dataclass
class Figures:
    """One run: ``latencies_ms`` of the answered requests (from when each was due)."""

    rate: float
    seconds: float
    scheduled: int
    ok: int
    errors: int  # answered with a status other than 200, or the connection failed
    unfinished: int  # still unanswered when the run gave up waiting
    elapsed: float  # from the first request due to the last answer
    response_bytes: float  # mean body size of the 200 answers
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def achieved(self) -> float:
        """Answers (200) per second, over the schedule or longer when the answers lag."""
        return self.ok / max(self.seconds, self.elapsed)

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    @property
    def max_ms(self) -> float:
        return max(self.latencies_ms, default=float("nan"))

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


@dataclass
class _Tally:
    ok: int = 0
    errors: int = 0
    body_bytes: int = 0
    last_answer: float = 0.0
    latencies: list[float] = field(default_factory=list)


async def _fetch(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, int]:
    """Send one request on a kept-alive connection; returns (status, body bytes)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status, length


async def _run(
    host: str,
    port: int,
    paths: Sequence[str],
    headers: dict[str, str],
    rate: float,
    seconds: float,
    connections: int,
    drain_seconds: float,
) -> Figures:
    loop = asyncio.get_running_loop()
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode() for path in paths
    ]
    total = int(rate * seconds)
    due: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    tally = _Tally()
    opened = [await asyncio.open_connection(host, port) for _ in range(connections)]

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            at, request = await due.get()
            try:
                status, size = await _fetch(reader, writer, request)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                tally.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            finally:
                due.task_done()
            now = time.perf_counter()
            tally.last_answer = now
            if status == 200:
                tally.ok += 1
                tally.body_bytes += size
                tally.latencies.append((now - at) * 1000)
            else:
                tally.errors += 1

    workers = [loop.create_task(connection(r, w)) for r, w in opened]
    # perf_counter, not the loop's clock: uvloop's counts whole milliseconds.
    start = time.perf_counter() + 0.05
    sent = 0
    # Each wake-up queues every request already due: a late wake-up delays requests, and
    # their latency (counted from when they were due) shows it.
    while sent < total:
        now = time.perf_counter()
        while sent < total and start + sent / rate <= now:
            due.put_nowait((start + sent / rate, requests[sent % len(requests)]))
            sent += 1
        if sent < total:
            await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(due.join(), timeout=drain_seconds)
    for worker in workers:
        worker.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    for _, writer in opened:
        writer.close()
    unfinished = total - tally.ok - tally.errors
    return Figures(
        rate=rate,
        seconds=seconds,
        scheduled=total,
        ok=tally.ok,
        errors=tally.errors,
        unfinished=unfinished,
        elapsed=(tally.last_answer - start) if tally.last_answer else seconds,
        response_bytes=tally.body_bytes / tally.ok if tally.ok else 0.0,
        latencies_ms=tally.latencies,
    )


def open_loop(
    host: str,
    port: int,
    paths: Sequence[str],
    *,
    headers: dict[str, str],
    rate: float,
    seconds: float,
    connections: int = 16,
    drain_seconds: float = 60.0,
) -> Figures:
    """GET ``paths`` in turn at ``rate`` requests a second for ``seconds``; then wait up to
    ``drain_seconds`` for the answers still owed."""
    coroutine = _run(host, port, paths, headers, rate, seconds, connections, drain_seconds)
    if uvloop is not None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            figures = runner.run(coroutine)
    else:
        figures = asyncio.run(coroutine)
    return figures
