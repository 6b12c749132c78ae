"""Events to sockets, sent only after the transaction that caused them commits.

Actions call :func:`send_on_commit`. Inside a socket's database hop the events are
collected (:func:`collecting`) and published by the consumer on the event loop
once the hop returns, after the sender's ack; anywhere else (HTTP views, the
background ticker) they are published synchronously right after commit.
Nothing depends on the channel layer for durability: the database is the
record, and a publish that fails is logged, never turned into an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from chat.layer import recovery

logger = logging.getLogger(__name__)

_collector: ContextVar[list[Event] | None] = ContextVar("chat_event_collector", default=None)


@dataclass(frozen=True, slots=True)
class Event:
    """One channel-layer message for one group (groups are named from ids only)."""

    group: str
    message: dict[str, Any]


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def watch_group(thread_id: int) -> str:
    return f"watch.{thread_id}"


COACHES_GROUP = "coaches"
SUPERVISORS_GROUP = "supervisors"
# One subscriber per process (routing/queue_feed.py): the queue changed.
QUEUE_GROUP = "queue"


def frame_event(group: str, frame: str, frame_type: str) -> Event:
    """A frame already serialized once, passed through by every consumer as is."""
    return Event(group, {"type": "chat.frame", "frame": frame, "frame_type": frame_type})


def send_on_commit(events: list[Event]) -> None:
    """Publish these events if and when the current transaction commits."""
    if events:
        transaction.on_commit(lambda: _deliver(events))


def _deliver(events: list[Event]) -> None:
    collector = _collector.get()
    if collector is not None:
        collector.extend(events)
    else:
        async_to_sync(publish)(events)


@contextmanager
def collecting() -> Iterator[list[Event]]:
    """Collect the events committed inside this block instead of publishing them."""
    events: list[Event] = []
    token = _collector.set(events)
    try:
        yield events
    finally:
        _collector.reset(token)


async def publish(events: list[Event]) -> None:
    """Send events through the channel layer; failures are logged and dropped."""
    if not events:
        return
    layer = get_channel_layer()
    send_many = getattr(layer, "group_send_many", None)  # chat/redis_layer.py's
    if send_many is not None:
        results = await send_many([(event.group, event.message) for event in events])
    else:
        results = await asyncio.gather(
            *(layer.group_send(event.group, event.message) for event in events),
            return_exceptions=True,
        )
    answered = False
    for event, result in zip(events, results, strict=True):
        if result is not None:
            logger.warning(
                "fan-out to %s failed (%s); clients resync by seq",
                event.group,
                type(result).__name__,
            )
        else:
            answered = True
    if answered:
        # The layer answers: if this process's receivers saw it fail, they re-join their
        # groups now rather than when the one in back-off retries (up to seconds later).
        recovery.back()
