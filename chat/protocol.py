"""Parsing and validating client frames (docs/protocol.md), without touching the database.

:func:`parse_frame` turns one text frame into a :class:`Request` or raises
:class:`~chat.errors.ChatError` with the documented code. Unknown fields are
ignored so that clients may send newer optional fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chat.errors import ChatError, ErrorCode, invalid

MAX_FRAME_BYTES = 64 * 1024
MAX_REF_CHARS = 64
MAX_CLIENT_ID_CHARS = 64
MAX_BODY_CHARS = 4000
MAX_NOTE_CHARS = 2000
MAX_TAGS_PER_FRAME = 20
MAX_ID = 2**63 - 1
PRESENCE_STATUSES = ("online", "away", "offline")


@dataclass(frozen=True, slots=True)
class Request:
    """A validated client frame: its type, its `ref`, and its fields by name."""

    type: str
    ref: str | None
    fields: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]


def frame_ref(data: Any) -> str | None:
    """The frame's `ref` if it is a valid one (so errors can carry it)."""
    if isinstance(data, dict):
        ref = data.get("ref")
        if isinstance(ref, str) and len(ref) <= MAX_REF_CHARS:
            return ref
    return None


def request_ref(text: str | None) -> str | None:
    """The `ref` of a frame that will not be served (rate limited), if it has a valid one."""
    if text is None:
        return None
    try:
        check_size(text)
        return frame_ref(decode(text))
    except ChatError:
        return None


def check_size(text: str) -> None:
    """Refuse frames over 64 KiB of UTF-8 before parsing them."""
    # Counting characters first avoids encoding every frame: a character takes
    # at most 4 bytes and at least 1.
    if len(text) * 4 <= MAX_FRAME_BYTES:
        return
    if len(text) > MAX_FRAME_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
        raise ChatError(ErrorCode.TOO_LARGE, f"frame over {MAX_FRAME_BYTES} bytes")


def decode(text: str) -> dict[str, Any]:
    """JSON text to an object, or bad_json."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ChatError(ErrorCode.BAD_JSON, "frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise ChatError(ErrorCode.BAD_JSON, "frame is not a JSON object")
    return data


def parse_frame(text: str) -> Request:
    """Validate one text frame into a Request; raises ChatError (its ref on `.ref`)."""
    check_size(text)
    data = decode(text)
    ref = frame_ref(data)
    try:
        if "ref" in data and data["ref"] is not None and ref is None:
            raise invalid(f"ref must be a string of at most {MAX_REF_CHARS} characters")
        frame_type = data.get("type")
        parser = PARSERS.get(frame_type) if isinstance(frame_type, str) else None
        if parser is None:
            raise ChatError(ErrorCode.UNKNOWN_TYPE, "type is missing or not a known frame type")
        return Request(frame_type, ref, parser(data))
    except ChatError as error:
        error.ref = ref
        raise


# --- field readers -----------------------------------------------------------------


def _id(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    # bool is an int in Python; a JSON true is not an id.
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"{name} must be an integer id")
    if not 1 <= value <= MAX_ID:
        raise invalid(f"{name} is out of range")
    return value


def _int(
    data: dict[str, Any], name: str, *, low: int, high: int, default: int | None = None
) -> int:
    value = data.get(name, default)
    if value is None:
        raise invalid(f"{name} is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"{name} must be an integer")
    if not low <= value <= high:
        raise invalid(f"{name} must be between {low} and {high}")
    return value


def _text(data: dict[str, Any], name: str, *, max_chars: int, required: bool = True) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string")
    value = value.strip()
    if required and not value:
        raise invalid(f"{name} must not be empty")
    if len(value) > max_chars:
        raise invalid(f"{name} must be at most {max_chars} characters")
    _check_unicode(name, value)
    return value


def _check_unicode(name: str, value: str) -> None:
    # JSON may carry lone surrogates ("\ud800") and NUL, which no database stores
    # faithfully; refuse them here rather than fail in the write.
    if "\x00" in value:
        raise invalid(f"{name} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(f"{name} is not valid Unicode (lone surrogate)") from None


def _slugs(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name, [])
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_TAGS_PER_FRAME:
        raise invalid(f"{name} must be a list of at most {MAX_TAGS_PER_FRAME} tag slugs")
    slugs = []
    for item in value:
        if not isinstance(item, str) or not 0 < len(item) <= 40:
            raise invalid(f"{name} must hold tag slugs (strings)")
        _check_unicode(name, item)
        slugs.append(item)
    return slugs


# --- one parser per client frame type ------------------------------------------------


def _thread_only(data: dict[str, Any]) -> dict[str, Any]:
    return {"thread": _id(data, "thread")}


def _message_send(data: dict[str, Any]) -> dict[str, Any]:
    client_id = data.get("client_id")
    if not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_CLIENT_ID_CHARS:
        raise invalid(f"client_id must be a string of 1 to {MAX_CLIENT_ID_CHARS} characters")
    _check_unicode("client_id", client_id)
    return {
        "thread": _id(data, "thread"),
        "client_id": client_id,
        "body": _text(data, "body", max_chars=MAX_BODY_CHARS),
    }


def _thread_sync(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "thread": _id(data, "thread"),
        "after_seq": _int(data, "after_seq", low=0, high=MAX_ID),
        "limit": _int(data, "limit", low=1, high=200, default=100),
    }


def _thread_history(data: dict[str, Any]) -> dict[str, Any]:
    before = data.get("before_seq")
    return {
        "thread": _id(data, "thread"),
        "before_seq": None if before is None else _int(data, "before_seq", low=0, high=MAX_ID),
        "limit": _int(data, "limit", low=1, high=100, default=50),
    }


def _typing(data: dict[str, Any]) -> dict[str, Any]:
    state = data.get("state")
    if not isinstance(state, bool):
        raise invalid("state must be true or false")
    return {"thread": _id(data, "thread"), "state": state}


def _read(data: dict[str, Any]) -> dict[str, Any]:
    return {"thread": _id(data, "thread"), "seq": _int(data, "seq", low=0, high=MAX_ID)}


def _presence_set(data: dict[str, Any]) -> dict[str, Any]:
    status = data.get("status")
    if status not in PRESENCE_STATUSES:
        raise invalid("status must be one of: " + ", ".join(PRESENCE_STATUSES))
    return {"status": status}


def _thread_transfer(data: dict[str, Any]) -> dict[str, Any]:
    to_queue = data.get("to_queue", False)
    if not isinstance(to_queue, bool):
        raise invalid("to_queue must be true or false")
    has_coach = data.get("to_coach") is not None
    if to_queue == has_coach:
        raise invalid("give exactly one of to_coach or to_queue: true")
    return {
        "thread": _id(data, "thread"),
        "to_coach": _id(data, "to_coach") if has_coach else None,
        "note": _text(data, "note", max_chars=MAX_NOTE_CHARS, required=False),
    }


def _thread_tag(data: dict[str, Any]) -> dict[str, Any]:
    add, remove = _slugs(data, "add"), _slugs(data, "remove")
    if not add and not remove:
        raise invalid("add or remove must name at least one tag")
    return {"thread": _id(data, "thread"), "add": add, "remove": remove}


PARSERS = {
    "thread.open": lambda data: {},
    "message.send": _message_send,
    "thread.sync": _thread_sync,
    "thread.history": _thread_history,
    "typing": _typing,
    "read": _read,
    "presence.set": _presence_set,
    "queue.claim": _thread_only,
    "thread.transfer": _thread_transfer,
    "thread.resolve": _thread_only,
    "thread.tag": _thread_tag,
    "thread.watch": _thread_only,
    "thread.unwatch": _thread_only,
    "member.context": _thread_only,
}
