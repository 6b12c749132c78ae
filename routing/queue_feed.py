"""The queue feed: one per process, it keeps coaches and supervisors on this process
up to date with the `queue` frame, and queued members with their place.

Actions announce "the queue changed" to the `queue` group; each process's feed
has one channel in it. On a change the feed takes one snapshot for the whole
process and sends it to every subscribed socket, at most once a second (the
protocol's coalescing), and publishes members' moved positions at most every
two seconds. Snapshots run on the background database thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from channels.layers import get_channel_layer

from accounts.roles import Role
from chat.events import QUEUE_GROUP, publish
from chat.frames import Audience, dumps, iso, thread_object
from chat.hop import background_hop
from chat.layer import recovery
from config import metrics
from routing.actions.positions import queue_positions_publish
from routing.selectors import eta_seconds, queue_snapshot

logger = logging.getLogger(__name__)

QUEUE_FRAME_INTERVAL = 1.0
POSITIONS_INTERVAL = 2.0
# Sockets sent a queue frame between two returns to the event loop.
SEND_BATCH = 25


class Subscriber(Protocol):
    channel_name: str

    @property
    def role(self) -> Role: ...

    @property
    def user_id(self) -> int: ...

    async def send_frame_text(self, text: str, frame_type: str) -> None: ...


class QueueFeed:
    def __init__(self) -> None:
        self.subscribers: dict[str, Subscriber] = {}
        # What each socket was last sent (the version of the shared part, and a
        # coach's own flagged threads): an unchanged frame is not sent again (several
        # changes often cancel out, or touch only what a frame leaves out).
        self.last_sent: dict[str, tuple[int, str]] = {}
        self._shared = {Role.COACH: "", Role.SUPERVISOR: ""}
        self._versions = {Role.COACH: 0, Role.SUPERVISOR: 0}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._channel: str | None = None  # the feed's own, in the queue group

    def start(self) -> None:
        """Run the feed on the current event loop (again, if the loop changed)."""
        loop = asyncio.get_running_loop()
        if self._loop is loop and all(not task.done() for task in self._tasks):
            return
        self._loop = loop
        self._dirty = asyncio.Event()
        self._dirty.set()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._serve())]

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers[subscriber.channel_name] = subscriber
        self.start()
        self.changed()

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.pop(subscriber.channel_name, None)
        self.last_sent.pop(subscriber.channel_name, None)

    def changed(self) -> None:
        if self._dirty is not None:
            self._dirty.set()

    async def _listen(self) -> None:
        """Mark the feed dirty whenever any process says the queue changed."""
        layer = get_channel_layer()
        self._channel = None
        failed = False
        while True:
            try:
                if self._channel is None:
                    # The default prefix, as the sockets' channels have: the core Redis
                    # layer reads one list per prefix and process under a lock that
                    # one receiver holds while it waits, so with a prefix of its own
                    # the feed and the sockets starved each other of messages.
                    self._channel = await layer.new_channel()
                    await self._rejoin()
                    recovery.enrol(self._rejoin)
                if failed:
                    failed = False
                    recovery.back(found_by=self._rejoin)
                await layer.receive(self._channel)
                self.changed()
            except asyncio.CancelledError:
                recovery.leave(self._rejoin)
                raise
            except Exception as error:
                # The layer is down: retry, and refresh anyway so nobody waits on it.
                logger.warning("queue feed lost the channel layer (%s)", type(error).__name__)
                recovery.lost()
                recovery.leave(self._rejoin)
                self._channel = None
                failed = True
                self.changed()
                await recovery.wait(1.0)

    async def _rejoin(self) -> None:
        """Into the queue group (again, after the layer failed: Redis forgets groups)."""
        if self._channel is not None:
            await get_channel_layer().group_add(QUEUE_GROUP, self._channel)

    async def _serve(self) -> None:
        last_positions = 0.0
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                if self.subscribers:
                    await self._send_snapshot()
                if time.monotonic() - last_positions >= POSITIONS_INTERVAL:
                    last_positions = time.monotonic()
                    hop = await background_hop(queue_positions_publish)
                    await publish(hop.events)
                else:
                    # Positions are due later: come back for them.
                    self._loop.call_later(POSITIONS_INTERVAL, self.changed)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("queue feed refresh failed")
            await asyncio.sleep(QUEUE_FRAME_INTERVAL)

    async def _send_snapshot(self) -> None:
        hop = await background_hop(queue_frame_parts)
        if hop.error is not None:
            raise hop.error
        parts: QueueFrameParts = hop.value
        supervisor_text = parts.for_supervisors + ',"flagged":' + dumps(parts.flagged) + "}"
        # What frames share is compared once a snapshot, not once a socket: a socket
        # remembers the versions it was sent (and a coach her own flagged threads).
        if parts.for_coaches != self._shared[Role.COACH]:
            self._shared[Role.COACH] = parts.for_coaches
            self._versions[Role.COACH] += 1
        if supervisor_text != self._shared[Role.SUPERVISOR]:
            self._shared[Role.SUPERVISOR] = supervisor_text
            self._versions[Role.SUPERVISOR] += 1
        own_flagged: dict[int | None, list[dict[str, Any]]] = {}
        for thread in parts.flagged:
            own_flagged.setdefault((thread["coach"] or {}).get("id"), []).append(thread)
        for index, subscriber in enumerate(list(self.subscribers.values())):
            if index and not index % SEND_BATCH:
                # Hundreds of consoles get tens of kilobytes each: conversations'
                # frames go through between batches, not after all of them.
                await asyncio.sleep(0)
                if subscriber.channel_name not in self.subscribers:
                    continue  # closed meanwhile
            if subscriber.role == Role.SUPERVISOR:
                sent: tuple[int, str] = (self._versions[Role.SUPERVISOR], "")
            else:
                own = dumps(own_flagged.get(subscriber.user_id, []))
                sent = (self._versions[Role.COACH], own)
            if self.last_sent.get(subscriber.channel_name) == sent:
                continue
            self.last_sent[subscriber.channel_name] = sent
            if subscriber.role == Role.SUPERVISOR:
                text = supervisor_text
            else:
                text = parts.for_coaches + ',"flagged":' + own + "}"
            try:
                await subscriber.send_frame_text(text, "queue")
            except Exception as error:
                logger.info("queue frame not delivered (%s)", type(error).__name__)


@dataclass(frozen=True, slots=True)
class QueueFrameParts:
    """The `queue` frame without its closing brace, for coaches and for supervisors, and
    the flagged threads to append: everything but `flagged` is serialized once for all
    sockets; each coach's `flagged` holds only her own threads.
    """

    for_coaches: str
    for_supervisors: str
    flagged: list[dict[str, Any]]


def queue_frame_parts() -> QueueFrameParts:
    snapshot = queue_snapshot()
    for priority, depth in snapshot.by_priority.items():
        metrics.QUEUE_DEPTH.labels(priority).set(depth)

    def head(with_previews: bool) -> list[dict[str, Any]]:
        return [
            thread_object(
                thread,
                audience=Audience.STAFF,
                tags=snapshot.tags.get(thread.pk, []),
                queue_position=rank,
                eta_seconds=eta_seconds(rank, snapshot.floor),
                preview=snapshot.previews.get(thread.pk) if with_previews else None,
            )
            for rank, thread in enumerate(snapshot.head, start=1)
        ]

    flagged = [
        thread_object(thread, audience=Audience.STAFF, tags=snapshot.tags.get(thread.pk, []))
        for thread in snapshot.flagged
    ]
    frame = {
        "type": "queue",
        "total": snapshot.total,
        "by_priority": snapshot.by_priority,
        "oldest": {label: iso(moment) for label, moment in snapshot.oldest.items()},
        "coaches": snapshot.coaches,
    }
    # Coaches choose what to claim from the member's own words; a supervisor reads
    # them only by opening the transcript, where the read is recorded.
    return QueueFrameParts(
        for_coaches=dumps({**frame, "threads": head(with_previews=True)})[:-1],
        for_supervisors=dumps({**frame, "threads": head(with_previews=False)})[:-1],
        flagged=flagged,
    )


feed = QueueFeed()
