"""The one database hop per inbound frame.

Django's transactions only work in sync code, so every action runs as a sync
function in a worker thread; the events it commits are collected there and
handed back to the event loop, which publishes them after replying.

Socket frames use channels' shared database thread (thread_sensitive). Background
work (sweeps, queue snapshots) uses a thread of its own, so a long sweep never
delays a member's message.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import SyncToAsync
from channels.db import database_sync_to_async
from django.db import close_old_connections

from chat.events import Event, collecting

BACKGROUND_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-background")


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


_frame_hop = database_sync_to_async(_run)


async def frame_hop(fn: Callable[..., Any], /, **kwargs: Any) -> HopResult:
    """Run an action for a socket frame on the shared database thread."""
    return await _frame_hop(fn, kwargs)


def _background_run(fn: Callable[..., Any], kwargs: dict[str, Any]) -> HopResult:
    close_old_connections()
    try:
        return _run(fn, kwargs)
    finally:
        close_old_connections()


_background_hop = SyncToAsync(_background_run, thread_sensitive=False, executor=BACKGROUND_EXECUTOR)


async def background_hop(fn: Callable[..., Any], /, **kwargs: Any) -> HopResult:
    """Run background work on its own database thread."""
    return await _background_hop(fn, kwargs)
