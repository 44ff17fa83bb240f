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
prepared in the server instead, and the next one starts a new pool. A worker whose server is
gone (killed, crashed) exits within a second: nothing else would end it.
"""

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


# Where there is no fork server (Windows), workers are spawned: slower to start, as safe.
_START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


class PreparePool:
    """``workers`` processes that run module-level functions on picklable arguments."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in a worker; in this process if the pool broke or is closed."""
        executor = self._started()
        if executor is None:
            return fn(*args)
        try:
            future = executor.submit(fn, *args)
        except (BrokenProcessPool, RuntimeError):  # broken while idle, or closed meanwhile
            self._discard(executor)
            return fn(*args)
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            log.warning("an ingest worker died; its request is prepared in the server")
            self._discard(executor)
            return fn(*args)

    def _started(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._closed:
                return None
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.workers,
                    mp_context=multiprocessing.get_context(_START_METHOD),
                    initializer=_exit_with,
                    initargs=(os.getpid(),),
                )
            return self._executor

    def _discard(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
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


# How often a worker looks for its server.
_WATCH_SECONDS = 1.0


def _exit_with(server_pid: int) -> None:
    """In a worker: exit once the server process is gone. Its parent is the fork server, which
    outlives a killed server as long as a worker does, so no signal would reach it."""

    def watch() -> None:
        while True:
            time.sleep(_WATCH_SECONDS)
            try:
                os.kill(server_pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # the pid is someone else's now: the server is gone
                os._exit(0)

    threading.Thread(target=watch, name="kenning-server-watch", daemon=True).start()
