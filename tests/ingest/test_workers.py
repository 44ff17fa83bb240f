"""The ingest workers' pool, with real worker processes."""

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import pytest

from kenning.ingest import workers
from kenning.ingest.workers import PreparePool
from tests.live import running, wait_gone


@pytest.fixture()
def pool() -> Iterator[PreparePool]:
    """A pool of one worker, not started yet (it starts at its first call)."""
    made = PreparePool(1)
    yield made
    made.close()


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


def test_a_function_runs_in_another_process_started_at_the_first_use(pool: PreparePool) -> None:
    assert not pool.started
    first = asyncio.run(pool.run(_pid))
    assert first != os.getpid()
    assert pool.started
    # the same worker answers again: the pool is kept, not started per call
    assert asyncio.run(pool.run(_pid)) == first
    # forked from a fork server, not from this process (with its threads)
    assert asyncio.run(pool.run(_parent)) != os.getpid()


def test_a_dead_worker_s_call_runs_here_and_the_next_call_gets_a_new_pool(
    pool: PreparePool,
) -> None:
    before = asyncio.run(pool.run(_pid))
    assert asyncio.run(pool.run(_die_unless_in, os.getpid())) == os.getpid()
    after = asyncio.run(pool.run(_pid))
    assert after not in (before, os.getpid())


def test_a_worker_killed_while_idle_costs_one_call_here_and_no_error(pool: PreparePool) -> None:
    worker = asyncio.run(pool.run(_pid))
    os.kill(worker, signal.SIGKILL)  # as the kernel's OOM killer would
    wait_gone([worker], seconds=10)
    assert asyncio.run(pool.run(_pid)) == os.getpid()
    assert asyncio.run(pool.run(_pid)) not in (worker, os.getpid())


def test_after_three_deaths_in_a_minute_the_pool_rests_and_calls_run_here(
    pool: PreparePool,
) -> None:
    for _ in range(3):
        assert asyncio.run(pool.run(_die_unless_in, os.getpid())) == os.getpid()
    assert asyncio.run(pool.run(_pid)) == os.getpid()
    assert not pool.started  # no pool was started for it


def test_a_worker_ignores_ctrl_c_which_the_terminal_sends_its_whole_group(
    pool: PreparePool,
) -> None:
    worker = asyncio.run(pool.run(_pid))
    os.kill(worker, signal.SIGINT)
    time.sleep(0.5)
    assert asyncio.run(pool.run(_pid)) == worker


def test_the_function_s_own_error_reaches_the_caller(pool: PreparePool) -> None:
    with pytest.raises(ValueError, match="the function's own error"):
        asyncio.run(pool.run(_fails))
    assert asyncio.run(pool.run(_pid)) != os.getpid()  # the pool is not broken by it


def test_after_close_calls_run_here_and_the_worker_is_gone(pool: PreparePool) -> None:
    worker = asyncio.run(pool.run(_pid))
    pool.close()
    assert not pool.started
    assert asyncio.run(pool.run(_pid)) == os.getpid()
    assert not wait_gone([worker], seconds=10)
    assert not running(worker)


def test_a_pool_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        PreparePool(0)


def test_where_there_is_no_fork_server_workers_are_spawned(
    pool: PreparePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "_START_METHOD", "spawn")
    assert asyncio.run(pool.run(_parent)) == os.getpid()  # not a fork server's child
