"""The one database hop per inbound frame.

Django's transactions only work in sync code, so every action runs as a sync
function in a worker thread; the events it commits are collected there and
handed back to the event loop, which publishes them after replying.

Socket frames run on a pool of database threads, not on channels' one shared
thread: measured, a message spent most of its hop waiting on the database, and one
thread made every socket of the process wait in line behind it (docs/benchmarks.md).
Frames of one socket still run one after another (the consumer awaits each hop), and
the thread row lock keeps a thread's seqs in order across sockets and processes.
Background work (sweeps, queue snapshots) has a thread of its own, so a long sweep
never delays a member's message.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import close_old_connections

from chat.events import Event, collecting

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class HopResult:
    """What the action returned or raised, and the events it committed either way."""

    value: Any = None
    events: list[Event] = field(default_factory=list)
    error: BaseException | None = None


def _run(fn: Callable[..., Any], kwargs: dict[str, Any]) -> HopResult:
    hop = HopResult()
    with collecting() as events:
        try:
            hop.value = fn(**kwargs)
        except Exception as error:
            # An action may commit, then fail in a later step (it is written so
            # that this is rare); what it committed must still be announced.
            hop.error = error
    hop.events = events
    return hop


def _run_and_release(fn: Callable[..., Any], kwargs: dict[str, Any]) -> HopResult:
    # In a context of its own: Django keeps connections per context, not per thread,
    # and asgiref would copy in the calling task's, whose connection object other
    # tasks copied from the same parent may be using on other threads this moment.
    return contextvars.Context().run(_released, fn, kwargs)


def _released(fn: Callable[..., Any], kwargs: dict[str, Any]) -> HopResult:
    # Each hop returns its connection (to the pool, on PostgreSQL): threads outlive
    # requests, and CONN_MAX_AGE is 0 under ASGI.
    try:
        return _run(fn, kwargs)
    finally:
        close_old_connections()


# channels' auth middleware loads the session and user on its shared database thread,
# in the socket's own context, and leaves that connection open there.
release_middleware_connection = database_sync_to_async(close_old_connections)


class DatabaseThreads:
    """A fixed number of threads taking hops from one queue, each settling its hop's
    future on the loop that asked for it.

    Not concurrent.futures' pool behind run_in_executor: its submit and completion (a
    concurrent Future with its own lock and condition, chained both ways to an
    asyncio future) were a twentieth of a message's CPU, for nothing a hop uses
    (docs/benchmarks.md). Cancelled while waiting, a hop that has started still runs
    to its end on its thread; its result is dropped.

    The threads are daemons: at exit a hop cut short leaves its transaction
    uncommitted, which the database rolls back, and the client, never acked,
    resends with the same client_id.
    """

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self._jobs: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._started = False
        self._start_lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> asyncio.Future[HopResult]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[HopResult] = loop.create_future()
        self._jobs.put((loop, future, fn, kwargs))
        if not self._started:
            self._start()
        return future

    def _start(self) -> None:
        with self._start_lock:
            if self._started:
                return
            for number in range(self.size):
                threading.Thread(
                    target=self._work, name=f"{self.name}_{number}", daemon=True
                ).start()
            self._started = True

    def _work(self) -> None:
        while True:
            loop, future, fn, kwargs = self._jobs.get()
            result: HopResult | BaseException
            try:
                result = _run_and_release(fn, kwargs)
            except BaseException as error:  # whatever it is, the awaiting task gets it
                result = error
            try:
                loop.call_soon_threadsafe(_settle, future, result)
            except RuntimeError:
                # The loop has closed (a test's, or the process is ending): nobody waits.
                logger.debug("hop finished after its event loop closed")


def _settle(future: asyncio.Future[HopResult], result: HopResult | BaseException) -> None:
    if future.cancelled():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


FRAME_THREADS = DatabaseThreads(settings.CHAT_DB_THREADS, "chat-frames")
BACKGROUND_THREAD = DatabaseThreads(1, "chat-background")


async def frame_hop(fn: Callable[..., Any], /, **kwargs: Any) -> HopResult:
    """Run an action for a socket frame on one of the frame database threads."""
    return await FRAME_THREADS.submit(fn, kwargs)


async def background_hop(fn: Callable[..., Any], /, **kwargs: Any) -> HopResult:
    """Run background work on its own database thread."""
    return await BACKGROUND_THREAD.submit(fn, kwargs)
