"""The ingest workers' pool, with real worker processes."""

import asyncio
import os
import signal
import time

import pytest

from kenning.ingest import workers
from kenning.ingest.workers import PreparePool


def _pid() -> int:
    return os.getpid()


def _parent() -> int:
    return os.getppid()


def _die_unless_in(pid: int) -> int:
    """Kills the worker it runs in; in process ``pid`` it answers that pid."""
    if os.getpid() != pid:
        os._exit(1)
    return pid


def _fails() -> None:
    raise ValueError("the function's own error")


def test_a_function_runs_in_another_process_started_at_the_first_use() -> None:
    pool = PreparePool(1)
    try:
        assert not pool.started
        first = asyncio.run(pool.run(_pid))
        assert first != os.getpid()
        assert pool.started
        # the same worker answers again: the pool is kept, not started per call
        assert asyncio.run(pool.run(_pid)) == first
        # forked from a fork server, not from this process (with its threads)
        assert asyncio.run(pool.run(_parent)) != os.getpid()
    finally:
        pool.close()


def test_a_dead_worker_s_call_runs_here_and_the_next_call_gets_a_new_pool() -> None:
    pool = PreparePool(1)
    try:
        before = asyncio.run(pool.run(_pid))
        assert asyncio.run(pool.run(_die_unless_in, os.getpid())) == os.getpid()
        after = asyncio.run(pool.run(_pid))
        assert after not in (before, os.getpid())
    finally:
        pool.close()


def test_a_worker_killed_while_idle_costs_one_call_here_and_no_error() -> None:
    pool = PreparePool(1)
    try:
        worker = asyncio.run(pool.run(_pid))
        os.kill(worker, signal.SIGKILL)  # as the kernel's OOM killer would
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert asyncio.run(pool.run(_pid)) == os.getpid()
        assert asyncio.run(pool.run(_pid)) not in (worker, os.getpid())
    finally:
        pool.close()


def test_after_three_deaths_in_a_minute_the_pool_rests_and_calls_run_here() -> None:
    pool = PreparePool(1)
    try:
        for _ in range(3):
            assert asyncio.run(pool.run(_die_unless_in, os.getpid())) == os.getpid()
        assert asyncio.run(pool.run(_pid)) == os.getpid()
        assert not pool.started  # no pool was started for it
    finally:
        pool.close()


def test_a_worker_ignores_ctrl_c_which_the_terminal_sends_its_whole_group() -> None:
    pool = PreparePool(1)
    try:
        worker = asyncio.run(pool.run(_pid))
        os.kill(worker, signal.SIGINT)
        time.sleep(0.5)
        assert asyncio.run(pool.run(_pid)) == worker
    finally:
        pool.close()


def test_the_function_s_own_error_reaches_the_caller() -> None:
    pool = PreparePool(1)
    try:
        with pytest.raises(ValueError, match="the function's own error"):
            asyncio.run(pool.run(_fails))
        assert asyncio.run(pool.run(_pid)) != os.getpid()  # the pool is not broken by it
    finally:
        pool.close()


def test_after_close_calls_run_here_and_the_worker_is_gone() -> None:
    pool = PreparePool(1)
    worker = asyncio.run(pool.run(_pid))
    pool.close()
    assert not pool.started
    assert asyncio.run(pool.run(_pid)) == os.getpid()
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker)


def test_a_pool_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        PreparePool(0)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_where_there_is_no_fork_server_workers_are_spawned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workers, "_START_METHOD", "spawn")
    pool = PreparePool(1)
    try:
        assert asyncio.run(pool.run(_parent)) == os.getpid()  # not a fork server's child
    finally:
        pool.close()
