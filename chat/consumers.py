"""The chat socket (/ws/chat/): frames in → one action each; events in → frames out.

Nothing here decides anything about threads: parsing is chat/protocol.py, every
write and every recipient list is an action's, access is chat/access.py.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.sessions import InstanceSessionWrapper
from django.conf import settings
from django.db import Error as DatabaseError

from accounts.roles import Actor, Role
from accounts.sessions import SessionEnded, as_signed_in
from chat import selectors
from chat.actions import reading, threads
from chat.actions.messages import SendResult, message_send
from chat.actions.sockets import (
    CLOSE_SESSION_ENDED,
    session_fingerprint,
    socket_close,
    socket_open,
)
from chat.errors import ChatError, ErrorCode
from chat.events import SUPERVISORS_GROUP, publish, user_group, watch_group
from chat.frames import dumps, error_frame, with_ref
from chat.hop import frame_hop, release_middleware_connection
from chat.layer import recovery
from chat.protocol import Request, parse_frame, request_ref
from chat.ratelimit import FrameRateLimiter, retry_after_seconds
from chat.transport import Transport
from config import metrics
from routing.actions import assignment, presence, resolve, tags, transfer
from routing.queue_feed import feed

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NO_ROLE = 4403
CLOSE_FLOODING = 4429
# WebSocket's own "try again later" (1013) cannot be sent: daphne's autobahn lets an
# application close only with 1000 or 3000-4999, and raises on anything else (the
# socket then died with 1006). 4503 is "unavailable" in the application's range.
CLOSE_TRY_AGAIN_LATER = 4503

# Sockets per user in this process (CHAT_MAX_SOCKETS_PER_USER applies per process).
_open_sockets: Counter[int] = Counter()
# A user closed for flooding opens no new socket on this process until then (monotonic
# time): the rate limit is per socket, and reconnecting would start a full bucket.
_flooded_until: dict[int, float] = {}
FLOOD_COOLDOWN_SECONDS = 10.0

UNAVAILABLE_MESSAGE = "the service is briefly unavailable; nothing was stored, retry"
# A client that stops reading its socket while still sending (so daphne's pings, which
# wait for silence, never catch it) made daphne buffer everything sent to it, without
# limit. A socket whose client is this far behind is closed with CLOSE_TOO_SLOW; the
# client reconnects and resyncs by seq. See docs/reliability.md.
SEND_BACKLOG_LIMIT = 1024 * 1024
CLOSE_TOO_SLOW = 4408
# A socket whose channel-layer receive failed retries after this long, doubling up to
# the maximum (with jitter, so a process's sockets do not all retry at once).
LAYER_RETRY_SECONDS = 0.5
LAYER_RETRY_MAX_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Route:
    """How one client frame type maps to an action and back to a reply frame."""

    action: Callable[..., Any]
    arguments: Callable[[Request], dict[str, Any]]
    reply: Callable[[Any], dict[str, Any] | None]
    audited: bool = False  # a supervisor's first read of the thread is recorded


def _thread_reply(thread: dict[str, Any]) -> dict[str, Any]:
    return {"type": "thread", "thread": thread}


def _same(frame: dict[str, Any]) -> dict[str, Any]:
    return frame


def _no_reply(_: Any) -> None:
    return None


def _thread_id(request: Request) -> dict[str, Any]:
    return {"thread_id": request["thread"]}


ROUTES: dict[str, Route] = {
    "thread.open": Route(threads.thread_open, lambda r: {}, _thread_reply),
    "message.send": Route(
        message_send,
        lambda r: {"thread_id": r["thread"], "client_id": r["client_id"], "text": r["body"]},
        SendResult.ack,
    ),
    "thread.sync": Route(
        reading.thread_sync,
        lambda r: {"thread_id": r["thread"], "after_seq": r["after_seq"], "limit": r["limit"]},
        _same,
        audited=True,
    ),
    "thread.history": Route(
        reading.thread_history,
        lambda r: {"thread_id": r["thread"], "before_seq": r["before_seq"], "limit": r["limit"]},
        _same,
        audited=True,
    ),
    "typing": Route(
        reading.typing_send, lambda r: {"thread_id": r["thread"], "state": r["state"]}, _no_reply
    ),
    "read": Route(
        reading.thread_read, lambda r: {"thread_id": r["thread"], "seq": r["seq"]}, _no_reply
    ),
    "presence.set": Route(presence.presence_set, lambda r: {"status": r["status"]}, _same),
    "queue.claim": Route(assignment.queue_claim, _thread_id, _thread_reply),
    "thread.transfer": Route(
        transfer.thread_transfer,
        lambda r: {"thread_id": r["thread"], "to_coach": r["to_coach"], "note": r["note"]},
        _thread_reply,
    ),
    "thread.resolve": Route(resolve.thread_resolve, _thread_id, _thread_reply),
    "thread.tag": Route(
        tags.thread_tag,
        lambda r: {"thread_id": r["thread"], "add": r["add"], "remove": r["remove"]},
        _thread_reply,
    ),
    "thread.watch": Route(threads.thread_watch, _thread_id, _thread_reply),
    "member.context": Route(selectors.member_context, _thread_id, _same),
}


def _flooding(user_id: int) -> bool:
    """Whether the user was closed for flooding on this process a moment ago."""
    until = _flooded_until.get(user_id)
    if until is not None and until <= time.monotonic():
        del _flooded_until[user_id]
        return False
    return until is not None


def _past_session_wrapper(send: Callable) -> Callable:
    """The send under channels' session wrapper, for a socket's frames.

    The wrapper saves the session before HTTP responses only, yet reads the session's
    state on every frame sent: a few per cent of a message's CPU (docs/benchmarks.md).
    """
    wrapper = getattr(send, "__self__", None)
    return wrapper.real_send if isinstance(wrapper, InstanceSessionWrapper) else send


async def dispatch_serially(
    sources: Sequence[Callable[[], Awaitable[dict[str, Any]]]],
    dispatch: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """channels' ``await_many_dispatch``, without a task and an ``asyncio.wait`` per message.

    The same contract: each source has one receive outstanding and is read again only
    once its message has been dispatched; messages are dispatched one at a time; the
    first dispatch to raise ends it all (nothing more is dispatched) and its exception
    is raised here; the receives still waiting are cancelled on the way out. channels'
    loop started a new task for every message (each registered in a WeakSet, in
    Python) and waited on all of them to learn which had finished, the largest item of
    the consumer's own overhead in the profile (docs/benchmarks.md, step 20). Here each
    source has one task for the socket's life, reading it and dispatching under a lock.
    """
    lock = asyncio.Lock()
    ended = False

    async def pump(source: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        nonlocal ended
        while True:
            message = await source()
            async with lock:
                if ended:
                    return
                try:
                    await dispatch(message)
                except BaseException:
                    ended = True
                    raise

    pumps = [asyncio.ensure_future(pump(source)) for source in sources]
    try:
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in pumps:
            if task.done():
                task.result()  # raises what ended it
    finally:
        for task in pumps:
            task.cancel()
        # Until the cancelled receives have ended; what ended the loop was raised above.
        await asyncio.gather(*pumps, return_exceptions=True)


class ChatConsumer(AsyncWebsocketConsumer):
    actor: Actor | None = None
    # When the session was last found valid (connect counts: the auth middleware
    # checked it). Re-checked at most every CHAT_SESSION_RECHECK_SECONDS, in the
    # frame's own hop: two lookups a frame were a quarter of the message path's time.
    signed_in_at = 0.0
    counted: int | None = None  # the user whose socket count this socket holds
    open = False  # accepted, and counted in the open-sockets gauge
    forgotten = False  # disconnect() has run
    layer_failed = False
    closing = False

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        """Called for each socket: channels' consumer loop, made to outlive the layer.

        In channels' own loop a failing channel layer ends the socket with a traceback:
        at connect the handshake is refused with a 500, and later (the core Redis
        layer) every socket of the process dies at once. Here a layer that is down at
        connect closes the socket with CLOSE_TRY_AGAIN_LATER, and a receive that
        fails is retried until the layer answers again, when the socket re-joins its
        groups: a restarted Redis has forgotten them.
        """
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        self.frame_send = _past_session_wrapper(send)
        self.transport = Transport.under(send)
        try:
            self.channel_name = await self.channel_layer.new_channel()
        except Exception as error:
            logger.warning("channel layer unavailable at connect: %s", type(error).__name__)
            await receive()  # websocket.connect
            await self._refuse(CLOSE_TRY_AGAIN_LATER)
            return
        try:
            await dispatch_serially([receive, self._channel_receive], self.dispatch)
        except StopConsumer:
            pass
        except Exception:
            # A handler failed: daphne closes the socket with 1011 and sends no
            # websocket.disconnect to a consumer that has ended. Forget the socket
            # here, or it counts against the user and a coach stays "connected".
            await self.disconnect(1011)
            raise

    async def _channel_receive(self) -> dict[str, Any]:
        delay = LAYER_RETRY_SECONDS
        while True:
            try:
                if self.layer_failed:
                    await self.rejoin_groups()
                    self.layer_failed = False
                    recovery.back(found_by=self.rejoin_groups)
                    logger.info("channel layer back; the process's sockets re-join their groups")
                return await self.channel_layer.receive(self.channel_name)
            except Exception as error:
                if not self.layer_failed:
                    logger.warning("channel layer lost (%s); retrying", type(error).__name__)
                self.layer_failed = True
                recovery.lost()
                if await recovery.wait(delay * random.uniform(0.5, 1.5)):  # noqa: S311
                    self.layer_failed = False  # another socket found it back: see back()
                delay = min(delay * 2, LAYER_RETRY_MAX_SECONDS)

    async def rejoin_groups(self) -> None:
        """Back into this socket's groups, after the layer failed (Redis forgets them)."""
        for group in list(self.groups):
            if self.forgotten:
                return
            await self.channel_layer.group_add(group, self.channel_name)
            if self.forgotten or group not in self.groups:
                # Closed or unwatched while the add was on its way: the discard may
                # have landed first, and a dead channel would stay in the group.
                await self.channel_layer.group_discard(group, self.channel_name)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # channels ≥ 4.2 closes old database connections (a thread hop) before
        # every handler, group events included. Our handlers that touch the
        # database do so through chat/hop.py, which manages connections itself,
        # so relaying an event costs no hop at all.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    # --- lifecycle ---------------------------------------------------------------------

    async def connect(self) -> None:
        """Called when the handshake arrives: authenticate, join groups, accept, hello."""
        self.groups = []
        self.watching: set[int] = set()
        self.audited: set[int] = set()
        self.limiter = FrameRateLimiter(settings.CHAT_RATE_PER_10S)
        await release_middleware_connection()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        if _open_sockets[user.pk] >= settings.CHAT_MAX_SOCKETS_PER_USER or _flooding(user.pk):
            # Tabs beyond the cap are refused like a flood: one user must not
            # hold a process's memory hostage.
            await self._refuse(CLOSE_FLOODING)
            return
        # Counted before the first await, not after accepting: connects racing through
        # the awaits below all passed the cap otherwise. disconnect() uncounts it.
        _open_sockets[user.pk] += 1
        self.counted = user.pk
        session = self.scope.get("session")
        self.session_key = session.session_key if session else None
        self.signed_in_at = time.monotonic()
        self.session = session_fingerprint(self.session_key) if self.session_key else None
        hop = await frame_hop(socket_open, user_id=user.pk, channel_name=self.channel_name)
        if hop.error is not None:
            logger.warning("socket open failed: %s", type(hop.error).__name__)
            await self._refuse(CLOSE_TRY_AGAIN_LATER)
            return
        if hop.value is None:
            # Active and logged in, but neither member, coach nor supervisor.
            await self._refuse(CLOSE_NO_ROLE)
            return
        self.actor = hop.value.actor
        groups = [user_group(self.actor.id)]
        if self.actor.role == Role.SUPERVISOR:
            groups.append(SUPERVISORS_GROUP)
        try:
            for group in groups:
                await self.channel_layer.group_add(group, self.channel_name)
                self.groups.append(group)
        except Exception as error:
            logger.warning("channel layer unavailable at connect: %s", type(error).__name__)
            await self._leave()
            await self._refuse(CLOSE_TRY_AGAIN_LATER)
            return
        recovery.enrol(self.rejoin_groups)
        await self.accept()
        self.open = True
        metrics.SOCKETS_OPEN.labels(self.actor.role.value).inc()
        for frame in hop.value.frames:
            await self.send_frame(frame)
        await publish(hop.events)
        if self.actor.role != Role.MEMBER:
            feed.subscribe(self)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Called when the socket closes, for any reason.

        Not channels' version: it leaves the groups first and lets a layer that is
        down raise past disconnect(), which would then never forget the socket (a
        coach would stay "connected", the user's socket count would never drop).
        """
        await self.disconnect(message.get("code", 1000))
        raise StopConsumer

    async def disconnect(self, code: int) -> None:
        """Called when the socket closes: leave the groups, forget the socket."""
        if self.counted is not None:
            _open_sockets[self.counted] -= 1
            if not _open_sockets[self.counted]:
                del _open_sockets[self.counted]
            self.counted = None
        if self.open:
            metrics.SOCKETS_OPEN.labels(self.actor.role.value).dec()
            self.open = False
        if self.actor is None or self.forgotten:
            return
        self.forgotten = True
        recovery.leave(self.rejoin_groups)
        feed.unsubscribe(self)
        await self._leave()
        hop = await frame_hop(socket_close, actor=self.actor, channel_name=self.channel_name)
        await publish(hop.events)
        if hop.error is not None:
            # The worker's heartbeat sweep forgets the socket if this failed.
            logger.warning("socket close not recorded: %s", type(hop.error).__name__)

    async def _refuse(self, code: int) -> None:
        # Accept, then close: a client can tell an auth failure (4401) from a
        # network failure, which a refused handshake would not let it do.
        await self.accept()
        await self.close(code=code)

    async def _leave(self) -> None:
        for group in self.groups:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception as error:
                logger.info("group_discard failed: %s", type(error).__name__)
        self.groups = []

    # --- frames from the client ------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Called with each frame from the client."""
        if self.actor is None or self.closing:
            # Closed by us: a flooder's frames may still be queued by the dozen.
            return
        retry_after = self.limiter.take()
        if self.transport is not None:
            # A client over its rate is not read from until it may send again (after a
            # flood, not even its close handshake): receiving costs daphne more than
            # refusing, and a flood waits in the flooder's own buffers.
            self.transport.regulate(rest=self.limiter.wait if retry_after else 0.0)
        if retry_after:
            if self.limiter.flooding:
                _flooded_until[self.actor.id] = time.monotonic() + FLOOD_COOLDOWN_SECONDS
                await self.close(code=CLOSE_FLOODING)
                return
            retry_after = retry_after_seconds(retry_after)
            error = ChatError(
                ErrorCode.RATE_LIMITED, f"too many frames; retry in {retry_after:.1f} s"
            )
            error.ref = request_ref(text_data)
            await self.send_error(error, retry_after=retry_after)
            return
        if text_data is None:
            await self.send_error(ChatError(ErrorCode.BAD_JSON, "binary frames are not accepted"))
            return
        try:
            request = parse_frame(text_data)
        except ChatError as error:
            metrics.FRAMES_IN.labels("invalid").inc()
            await self.send_error(error)
            return
        metrics.FRAMES_IN.labels(request.type).inc()
        if request.type == "thread.unwatch":
            await self._unwatch(request)
            return
        route = ROUTES[request.type]
        arguments = route.arguments(request)
        if route.audited:
            arguments["audit"] = self._first_read(request["thread"])
        if time.monotonic() - self.signed_in_at >= settings.CHAT_SESSION_RECHECK_SECONDS:
            hop = await frame_hop(
                as_signed_in,
                action=route.action,
                session_key=self.session_key,
                actor=self.actor,
                **arguments,
            )
            if hop.error is None:
                self.signed_in_at = time.monotonic()
        else:
            hop = await frame_hop(route.action, actor=self.actor, **arguments)
        try:
            if isinstance(hop.error, SessionEnded):
                await self.close(code=CLOSE_SESSION_ENDED)
                return
            if hop.error is not None:
                await self.send_error(self._as_chat_error(hop.error, request.ref))
                return
            if request.type == "thread.watch":
                await self._watch(request["thread"])
            reply = route.reply(hop.value)
            if reply is not None:
                await self.send_frame(with_ref(reply, request.ref))
        except ChatError as error:
            error.ref = request.ref
            await self.send_error(error)
        finally:
            # After the reply: an ack never waits on the fan-out, and the events
            # of an action that committed, then failed, still go out.
            await publish(hop.events)

    def _as_chat_error(self, error: BaseException, ref: str | None) -> ChatError:
        if not isinstance(error, ChatError):
            if isinstance(error, DatabaseError):
                logger.warning("database error in a frame: %s", type(error).__name__)
            else:
                logger.error("unexpected error in a frame", exc_info=error)
            error = ChatError(ErrorCode.UNAVAILABLE, UNAVAILABLE_MESSAGE)
        error.ref = ref
        return error

    async def _watch(self, thread_id: int) -> None:
        await self._join(watch_group(thread_id))
        self.watching.add(thread_id)
        self.audited.add(thread_id)

    async def _unwatch(self, request: Request) -> None:
        thread_id = request["thread"]
        group = watch_group(thread_id)
        if group in self.groups:
            self.groups.remove(group)
            self.watching.discard(thread_id)
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception as error:
                # Events for the thread may still arrive until the layer is back;
                # watching is read access a supervisor has anyway.
                logger.info("group_discard failed: %s", type(error).__name__)
        await self.send_frame(
            with_ref({"type": "thread.unwatched", "thread": thread_id}, request.ref)
        )

    def _first_read(self, thread_id: int) -> bool:
        """A supervisor's first read of a thread on this socket is audited as a view."""
        if self.actor.role != Role.SUPERVISOR or thread_id in self.audited:
            return False
        self.audited.add(thread_id)
        return True

    async def _join(self, group: str) -> None:
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except Exception as error:
            logger.warning("group_add failed: %s", type(error).__name__)
            raise ChatError(ErrorCode.UNAVAILABLE, UNAVAILABLE_MESSAGE) from None
        if group not in self.groups:
            self.groups.append(group)

    # --- frames to the client --------------------------------------------------------------

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send_frame_text(dumps(frame), frame["type"])

    async def send_frame_text(self, text: str, frame_type: str) -> None:
        if self.closing:
            return
        try:
            await self.frame_send({"type": "websocket.send", "text": text})
        except Exception as error:
            # The client went away before daphne told us (autobahn's "send on a closed
            # protocol"): nothing to send to, and no reason to end the consumer before
            # its disconnect() forgets the socket.
            logger.info("send to a closed socket: %s", type(error).__name__)
            self.closing = True
            return
        metrics.FRAMES_OUT.labels(frame_type).inc()
        if self.transport is not None and self.transport.backlog() > SEND_BACKLOG_LIMIT:
            logger.warning("closing a socket whose client stopped reading (user %s)", self.user_id)
            await self.close(code=CLOSE_TOO_SLOW)

    async def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Close from our side; nothing more is read or sent on this socket."""
        self.closing = True
        await super().close(code, reason)

    async def send_error(self, error: ChatError, **extra: Any) -> None:
        metrics.ERRORS.labels(error.code.value).inc()
        await self.send_frame({**error_frame(error), **extra})

    # --- events from actions (channel layer) ---------------------------------------------------

    async def chat_frame(self, event: dict[str, Any]) -> None:
        """Called when an action sends a frame to a group this socket is in."""
        await self.send_frame_text(event["frame"], event["frame_type"])

    async def chat_close(self, event: dict[str, Any]) -> None:
        """Called when the user's session ended or her account was deactivated."""
        if event.get("session") in (None, self.session):
            await self.close(code=event["code"])

    async def queue_changed(self, event: dict[str, Any]) -> None:
        """Not used by sockets (the per-process queue feed listens); ignored."""

    # --- for the queue feed ----------------------------------------------------------------

    @property
    def role(self) -> Role:
        return self.actor.role

    @property
    def user_id(self) -> int:
        return self.actor.id
