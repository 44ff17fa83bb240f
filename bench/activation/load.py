"""Steady background ingest, in a process of its own: ``python -m bench.activation.load``.

Batches of events are sent through ``POST /v1/batch`` on a fixed schedule (open loop: batch n
is due at n * size / rate seconds whatever the answers, several in flight at once), so the
server sees the asked rate even when an answer is slow. A process of its own keeps its work
off the receiver's interpreter: the webhook receiver's timestamps are not delayed by it.

The events are many users' ordinary traffic, none of which qualifies for the benchmark's
audience or campaign: product views and pages, orders under the qualifying total, now and
then an identify with a first name and a city. When the run ends, a JSON summary goes to
stdout: batches and events acknowledged, errors, the acknowledgement latency, the rate
achieved.
"""

import argparse
import asyncio
import random
import statistics
import sys
import time
from typing import Any

import httpx
import orjson

CATEGORIES = ("shoes", "jackets", "bags", "hats", "socks", "shirts")
CITIES = ("Leeds", "York", "Bristol", "Bath", "Hull", "Derby")
NAMES = ("Ann", "Bea", "Cal", "Dev", "Eli", "Fay", "Gus", "Hal")


def event(rng: random.Random, tag: str, n: int, users: int) -> dict[str, Any]:
    """One background event: never an order of 100 or more (the qualifying total). Message
    ids carry the run's tag: a later run's events are new, not duplicates the server drops."""
    user = f"bg-{rng.randrange(users)}"
    base: dict[str, Any] = {"userId": user, "messageId": f"bg-{tag}-{n}"}
    u = rng.random()
    if u < 0.55:
        category = rng.choice(CATEGORIES)
        properties = {"category": category, "price": round(rng.uniform(5, 90), 2)}
        return {**base, "type": "track", "event": "Product Viewed", "properties": properties}
    if u < 0.80:
        return {**base, "type": "page", "name": "Product", "properties": {"path": "/p/1"}}
    if u < 0.95:
        total = round(rng.uniform(5, 99), 2)
        properties = {"total": total, "revenue": total, "currency": "EUR"}
        return {**base, "type": "track", "event": "Order Completed", "properties": properties}
    traits = {"first_name": rng.choice(NAMES), "city": rng.choice(CITIES)}
    return {**base, "type": "identify", "traits": traits}


async def run(
    url: str,
    key: str,
    tag: str,
    rate: float,
    seconds: float,
    size: int,
    users: int,
    in_flight: int,
) -> dict[str, Any]:
    rng = random.Random(tag)
    interval = size / rate
    limit = asyncio.Semaphore(in_flight)
    latencies: list[float] = []
    acknowledged = 0
    stored = 0  # acknowledged and not duplicates
    errors = 0
    late = 0
    counter = 0
    tasks: set[asyncio.Task[None]] = set()
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(base_url=url, auth=(key, ""), timeout=60, limits=limits) as client:

        async def send(body: bytes) -> None:
            nonlocal acknowledged, stored, errors
            try:
                started = time.perf_counter()
                answer = await client.post(
                    "/v1/batch", content=body, headers={"Content-Type": "application/json"}
                )
                if answer.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                    acknowledged += size
                    answer_body = answer.json()
                    stored += int(answer_body["accepted"]) - int(answer_body["duplicates"])
                else:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            finally:
                limit.release()

        started = time.perf_counter()
        n = 0
        while True:
            due = started + n * interval
            if due - started >= seconds:
                break
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -interval:
                late += 1
            batch = [event(rng, tag, counter + i, users) for i in range(size)]
            counter += size
            body = orjson.dumps({"batch": batch})
            await limit.acquire()  # at most in_flight outstanding: the schedule slips instead
            task = asyncio.create_task(send(body))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        sent_for = time.perf_counter() - started
        if tasks:
            await asyncio.gather(*tasks)
    latencies.sort()
    return {
        "batches": n,
        "events_sent": counter,
        "events_acknowledged": acknowledged,
        "events_stored": stored,
        "errors": errors,
        "late_batches": late,
        "seconds": sent_for,
        "rate": stored / sent_for if sent_for else 0.0,  # new events stored a second
        "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else None,
        "max_ms": 1000 * latencies[-1] if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--tag", required=True, help="unique to the run: in message ids")
    parser.add_argument("--rate", type=float, default=1_000.0, help="events a second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--batch", type=int, default=50, help="events per request")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=8)
    args = parser.parse_args()
    summary = asyncio.run(
        run(
            args.url,
            args.key,
            args.tag,
            args.rate,
            args.seconds,
            args.batch,
            args.users,
            args.in_flight,
        )
    )
    sys.stdout.write(orjson.dumps(summary).decode() + "\n")


if __name__ == "__main__":
    main()
