"""Building server frames (docs/protocol.md): message objects M, thread objects T, and
the frames that carry them. Each frame is serialized once, wherever it goes.
"""

from __future__ import annotations

import datetime
import json
from enum import StrEnum
from typing import Any

from accounts.roles import Actor, display_name, role_of
from chat.errors import ChatError
from chat.models import Message, MessageKind, Thread, ThreadStatus
from routing.models import Priority

PROTOCOL_VERSION = 1
PREVIEW_CHARS = 140


class Audience(StrEnum):
    """Who a thread object is for: members never see the coaches' working notes."""

    MEMBER = "member"
    STAFF = "staff"


def dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def iso(moment: datetime.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def person(user: Any | None) -> dict[str, Any] | None:
    """{"id", "name"} of a user with profiles loaded, or None."""
    if user is None:
        return None
    return {"id": user.pk, "name": display_name(user)}


SYSTEM_SENDER = {"id": None, "role": "system", "name": "Coaching team"}


def sender_object(message: Message) -> dict[str, Any]:
    if message.sender_id is None:
        return SYSTEM_SENDER
    return sender_object_of(message.sender)


def sender_object_of(user: Any) -> dict[str, Any]:
    """S for a user with profiles loaded; "former" when she no longer has a role."""
    role = role_of(user)
    return {"id": user.pk, "role": role.value if role else "former", "name": display_name(user)}


def message_object(message: Message, sender: dict[str, Any] | None = None) -> dict[str, Any]:
    """M. Pass `sender` when it is already known (the writer), to skip loading the user."""
    frame = {
        "id": message.pk,
        "thread": message.thread_id,
        "seq": message.seq,
        "client_id": message.client_id,
        "sender": sender or sender_object(message),
        "text": message.text,
        "body": message.body,
        "created_at": iso(message.created_at),
        "kind": message.kind,
    }
    if message.kind == MessageKind.SYSTEM:
        frame["event"] = message.event or None
    return frame


def thread_object(
    thread: Thread,
    *,
    audience: Audience,
    tags: list[str],
    queue_position: int | None = None,
    eta_seconds: int | None = None,
    read_seq: int | None = None,
    reads: dict[str, int | None] | None = None,
    preview: str | None = None,
) -> dict[str, Any]:
    """T. `thread` needs member and coach (with profiles) loaded.

    `read_seq` is how far the reader has read (in hello); `reads` how far the member
    and the assigned coach have, so either side can show "read" after a reload.
    """
    queued = thread.status == ThreadStatus.QUEUED
    frame: dict[str, Any] = {
        "id": thread.pk,
        "version": thread.version,
        "status": thread.status,
        "member": person(thread.member),
        "coach": person(thread.coach),
        "last_seq": thread.last_seq,
        "queue_position": queue_position if queued else None,
        "eta_seconds": eta_seconds if queued else None,
        "unanswered": thread.unanswered,
        "created_at": iso(thread.created_at),
        "enqueued_at": iso(thread.enqueued_at) if queued else None,
    }
    if audience == Audience.STAFF:
        frame["tags"] = tags
        frame["priority"] = Priority(thread.priority).label
        frame["handoff_note"] = thread.handoff_note or None
        frame["waiting_since"] = iso(thread.awaiting_reply_since)
        if preview is not None:
            frame["preview"] = preview[:PREVIEW_CHARS]
    if read_seq is not None:
        frame["read_seq"] = read_seq
    if reads is not None:
        frame["read"] = reads
    return frame


def error_frame(error: ChatError) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": error.code.value, "message": error.message}
    if error.ref is not None:
        frame["ref"] = error.ref
    return frame


def with_ref(frame: dict[str, Any], ref: str | None) -> dict[str, Any]:
    if ref is not None:
        frame["ref"] = ref
    return frame


def typing_frame(thread_id: int, actor: Actor, state: bool) -> dict[str, Any]:
    return {"type": "typing", "thread": thread_id, "user": actor.person(), "state": state}


def read_frame(thread_id: int, actor: Actor, seq: int) -> dict[str, Any]:
    return {
        "type": "read",
        "thread": thread_id,
        "user": {"id": actor.id, "role": actor.role.value},
        "seq": seq,
    }
