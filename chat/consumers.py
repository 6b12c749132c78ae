"""The chat socket (/ws/chat/): frames in → one action each; events in → frames out.

Nothing here decides anything about threads: parsing is chat/protocol.py, every
write and every recipient list is an action's, access is chat/access.py.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import Error as DatabaseError

from accounts.roles import Actor, Role
from chat import selectors
from chat.actions import reading, threads
from chat.actions.messages import SendResult, message_send
from chat.actions.sockets import session_fingerprint, socket_close, socket_open
from chat.errors import ChatError, ErrorCode
from chat.events import SUPERVISORS_GROUP, publish, user_group, watch_group
from chat.frames import dumps, error_frame, with_ref
from chat.hop import frame_hop
from chat.protocol import Request, parse_frame, request_ref
from chat.ratelimit import FrameRateLimiter
from config import metrics
from routing.actions import assignment, presence, resolve, tags, transfer
from routing.queue_feed import feed

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NO_ROLE = 4403
CLOSE_FLOODING = 4429
CLOSE_TRY_AGAIN_LATER = 1013

# Sockets per user in this process (CHAT_MAX_SOCKETS_PER_USER applies per process).
_open_sockets: Counter[int] = Counter()

UNAVAILABLE_MESSAGE = "the service is briefly unavailable; nothing was stored, retry"


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


class ChatConsumer(AsyncWebsocketConsumer):
    actor: Actor | None = None

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
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        if _open_sockets[user.pk] >= settings.CHAT_MAX_SOCKETS_PER_USER:
            # Tabs beyond the cap are refused like a flood: one user must not
            # hold a process's memory hostage.
            await self._refuse(CLOSE_FLOODING)
            return
        session = self.scope.get("session")
        self.session = (
            session_fingerprint(session.session_key) if session and session.session_key else None
        )
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
        await self.accept()
        _open_sockets[self.actor.id] += 1
        metrics.SOCKETS_OPEN.labels(self.actor.role.value).inc()
        for frame in hop.value.frames:
            await self.send_frame(frame)
        await publish(hop.events)
        if self.actor.role != Role.MEMBER:
            feed.subscribe(self)

    async def disconnect(self, code: int) -> None:
        """Called when the socket closes, for any reason."""
        if self.actor is None:
            return
        metrics.SOCKETS_OPEN.labels(self.actor.role.value).dec()
        _open_sockets[self.actor.id] -= 1
        if not _open_sockets[self.actor.id]:
            del _open_sockets[self.actor.id]
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
        if self.actor is None:
            return
        retry_after = self.limiter.take()
        if retry_after:
            if self.limiter.flooding:
                await self.close(code=CLOSE_FLOODING)
                return
            error = ChatError(
                ErrorCode.RATE_LIMITED, f"too many frames; retry in {retry_after:.1f} s"
            )
            error.ref = request_ref(text_data)
            await self.send_error(error, retry_after=round(retry_after, 1))
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
        hop = await frame_hop(route.action, actor=self.actor, **arguments)
        try:
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
            await self.channel_layer.group_discard(group, self.channel_name)
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
        await self.send(text_data=text)
        metrics.FRAMES_OUT.labels(frame_type).inc()

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
