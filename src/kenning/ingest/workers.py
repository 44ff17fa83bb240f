"""Preparing large collection requests in worker processes, beside the server's own.

The server is one Python process, and under batched load its interpreter lock is the limit:
parsing and validating the batches held it half the time, while the writer waited for it and a
core stood a third idle. Worker processes take that work (the JSON parsed, each message
validated and turned into its event or quarantine row) to the other cores; the server keeps
the HTTP, the authentication, the rate limit and the writer. The rows come back pickled,
without their parsed messages: a stage that needs one parses the stored payload (the profile
stage only when it names traits or consent, stitching only when it holds identifiers beyond
its two ids), which costs less than carrying every message back.

The pool starts at the first request that uses it (a server that only ever gets single events
never spawns it), from a fork server: forking the server itself, with its writer and DuckDB's
threads running, is unsafe. A worker that dies breaks the pool; the request that saw it is
prepared in the server instead, and the next one starts a new pool; after three deaths in a
minute the pool rests for five minutes (a worker that cannot start would otherwise cost every
request its start-up). A worker exits when its server is gone (killed, crashed): it holds the
reading end of a pipe only the server writes to, and reads its end. Workers ignore Ctrl-C, which
the terminal sends to the whole process group: the server shuts them down itself.
"""

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


# Where there is no fork server (Windows), workers are spawned: slower to start, as safe.
_START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
# Deaths within this window that make the pool rest, and for how long.
_DEATHS, _DEATHS_WINDOW_SECONDS, _REST_SECONDS = 3, 60.0, 300.0


class PreparePool:
    """``workers`` processes that run module-level functions on picklable arguments."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        # The writing end of the pipe the workers watch: closed (or lost with this process),
        # they exit.
        self._lifeline: Connection | None = None
        self._watched: Connection | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._deaths: list[float] = []
        self._resting_until = 0.0

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in a worker; in this process if the pool broke, rests or is closed."""
        executor = self._started()
        if executor is None:
            return fn(*args)
        try:
            future = executor.submit(fn, *args)
        except Exception:  # broken while idle, closed meanwhile, or a worker failed to start
            log.warning("the ingest pool refused a request; it is prepared in the server")
            self._discard(executor)
            return fn(*args)
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            log.warning("an ingest worker died; its request is prepared in the server")
            self._discard(executor)
            return fn(*args)
        except asyncio.CancelledError:
            if _cancelling() or not future.cancelled():
                raise  # this request is being cancelled: nothing to prepare
            return fn(*args)  # the pool was closed under it (shutdown): prepared here

    def _started(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._closed or time.monotonic() < self._resting_until:
                return None
            if self._executor is None:
                context = multiprocessing.get_context(_START_METHOD)
                if _START_METHOD == "forkserver":
                    # Nothing: by default the fork server imports ``__main__``, which runs a
                    # launching script's top level again; and what Kenning imports starts
                    # threads (pyarrow's allocator), which a process that forks must not have.
                    # Each worker imports what it runs, once (about a second).
                    context.set_forkserver_preload([])
                # Both ends stay here for the pool's life: workers start as requests come,
                # each given a copy of the reading end (never of the writing one).
                self._watched, self._lifeline = context.Pipe(duplex=False)
                self._executor = ProcessPoolExecutor(
                    self.workers,
                    mp_context=context,
                    initializer=_worker_start,
                    initargs=(self._watched,),
                )
            return self._executor

    def _discard(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
                self._close_lifeline()
                now = time.monotonic()
                self._deaths = [t for t in self._deaths if now - t < _DEATHS_WINDOW_SECONDS]
                self._deaths.append(now)
                if len(self._deaths) >= _DEATHS:
                    log.error(
                        "ingest workers died %d times in a minute; batches are prepared in the "
                        "server for %d minutes",
                        len(self._deaths),
                        _REST_SECONDS // 60,
                    )
                    self._deaths.clear()
                    self._resting_until = now + _REST_SECONDS
        broken.shutdown(wait=False, cancel_futures=True)

    @property
    def started(self) -> bool:
        return self._executor is not None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._close_lifeline()

    def _close_lifeline(self) -> None:
        for end in (self._lifeline, self._watched):
            if end is not None:
                end.close()
        self._lifeline = self._watched = None


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _worker_start(lifeline: Connection) -> None:
    """In a worker, first: ignore Ctrl-C, and exit once the server's end of ``lifeline`` is
    closed. The worker's parent is the fork server, which outlives a killed server as long as a
    worker does, so no signal would reach it; the end of a pipe does, on every platform."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            lifeline.recv_bytes()  # the server never writes: this returns at its end
        os._exit(0)

    threading.Thread(target=watch, name="kenning-server-watch", daemon=True).start()
