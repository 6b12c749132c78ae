"""A socket's life: what it is told when it opens, what closing it changes, and closing
a user's sockets when her session ends or her account is deactivated."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from accounts.roles import Actor, Role, load_actor
from chat.events import Event, send_on_commit, user_group
from chat.frames import PROTOCOL_VERSION
from chat.selectors import hello_threads
from routing.actions.assignment import assign_waiting
from routing.actions.presence import coach_socket_close, coach_socket_open

CLOSE_SESSION_ENDED = 4000


@dataclass(slots=True)
class Opened:
    """The socket's actor and the frames it gets right after accepting."""

    actor: Actor
    frames: list[dict[str, Any]] = field(default_factory=list)


def socket_open(*, user_id: int, channel_name: str) -> Opened | None:
    """Hello for an active user with a role (None: close the socket); a coach's
    socket counts her as connected, which may make her available for the queue."""
    actor = load_actor(user_id)
    if actor is None:
        return None
    frames: list[dict[str, Any]] = []
    if actor.role == Role.COACH:
        status = coach_socket_open(actor=actor, channel_name=channel_name)
        assign_waiting()
    hello = {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "user": actor.person(),
        "threads": hello_threads(actor),
    }
    if actor.role == Role.COACH:
        # Her chosen status rides in hello (an added field): PROTOCOL.md sends a coach
        # hello then queue, and `presence` only in answer to presence.set.
        hello["presence"] = status
    frames.append(hello)
    return Opened(actor=actor, frames=frames)


def socket_close(*, actor: Actor, channel_name: str) -> None:
    """A coach's closed socket may start her grace period."""
    if actor.role == Role.COACH:
        coach_socket_close(actor=actor, channel_name=channel_name)


def session_fingerprint(session_key: str) -> str:
    """Names a session on the channel layer without carrying the key itself."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


def sockets_close(*, user_id: int, session_key: str | None = None) -> None:
    """Close the user's sockets: those of one session, or all of them (session_key None)."""
    session = session_fingerprint(session_key) if session_key else None
    close = {"type": "chat.close", "code": CLOSE_SESSION_ENDED, "session": session}
    send_on_commit([Event(user_group(user_id), close)])
