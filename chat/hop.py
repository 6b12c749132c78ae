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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import close_old_connections

from chat.events import Event, collecting

BACKGROUND_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-background")
FRAME_EXECUTOR = ThreadPoolExecutor(
    max_workers=settings.CHAT_DB_THREADS, thread_name_prefix="chat-frames"
)


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


async def frame_hop(fn: Callable[..., Any], /, **kwargs: Any) -> HopResult:
    """Run an action for a socket frame on one of the frame database threads."""
    return await _hop(FRAME_EXECUTOR, fn, kwargs)


async def background_hop(fn: Callable[..., Any], /, **kwargs: Any) -> HopResult:
    """Run background work on its own database thread."""
    return await _hop(BACKGROUND_EXECUTOR, fn, kwargs)


def _hop(
    executor: ThreadPoolExecutor, fn: Callable[..., Any], kwargs: dict[str, Any]
) -> asyncio.Future[HopResult]:
    # The executor directly, not asgiref's SyncToAsync: a hop runs in a fresh context
    # (above) and never calls back into the loop, so the context copies and restores,
    # thread-locals and shielding it adds per call cost a few per cent of a message's CPU
    # (docs/benchmarks.md). Cancelled while waiting, a hop that has started still
    # runs to its end on its thread, as with asgiref; its result is dropped.
    return asyncio.get_running_loop().run_in_executor(executor, _run_and_release, fn, kwargs)
