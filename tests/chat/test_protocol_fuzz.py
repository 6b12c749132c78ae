"""Property-based fuzzing of the frame parser and of the socket behind it (hypothesis).

parse_frame, over any JSON-ish value or any text, either returns a Request whose fields
keep every documented limit or raises ChatError with a documented code; and over the
real socket stack, no sequence of frames crashes the consumer: the socket stays open
and answers the next valid frame.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.errors import ChatError
from chat.protocol import (
    MAX_BODY_CHARS,
    MAX_CLIENT_ID_CHARS,
    MAX_FRAME_BYTES,
    MAX_ID,
    MAX_NOTE_CHARS,
    MAX_REF_CHARS,
    MAX_TAGS_PER_FRAME,
    PARSERS,
    PRESENCE_STATUSES,
    Request,
    parse_frame,
)
from tests.support.factories import make_coach, make_member, make_supervisor, make_thread
from tests.support.sockets import connect

PARSE_ERRORS = {"bad_json", "unknown_type", "invalid", "too_large"}
FIELDS = [
    "thread", "client_id", "body", "after_seq", "before_seq", "limit", "state", "seq",
    "status", "to_coach", "to_queue", "note", "add", "remove", "ref",
]  # fmt: skip

# Any character, lone surrogates and NUL included: JSON can carry them all.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, 1, -1, MAX_ID, MAX_ID + 1, 200, 201, 100, 101, 4000])
    | st.floats(allow_nan=True, allow_infinity=True)
    | any_text
    | st.sampled_from([*PRESENCE_STATUSES, "leaking", "bowel", " ", ""])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(any_text, children, max_size=5)
    ),
    max_leaves=12,
)
frames = st.fixed_dictionaries(
    {"type": st.sampled_from([*PARSERS, "chat.frame", "websocket.disconnect", ""]) | any_text},
    optional=dict.fromkeys(FIELDS, json_values),
)


def dumps(value: Any) -> str:
    # NaN and Infinity are not JSON, but json.loads reads them: a client may send them.
    return json.dumps(value, allow_nan=True)


def assert_within_limits(request: Request) -> None:
    """A parsed frame keeps every limit docs/protocol.md states."""
    assert request.type in PARSERS
    assert request.ref is None or (
        isinstance(request.ref, str) and len(request.ref) <= MAX_REF_CHARS
    )
    fields = request.fields
    json.dumps(fields)  # plain data only
    for name in ("thread", "to_coach"):
        if fields.get(name) is not None:
            assert type(fields[name]) is int and 1 <= fields[name] <= MAX_ID
    for name in ("after_seq", "before_seq", "seq"):
        if fields.get(name) is not None:
            assert type(fields[name]) is int and 0 <= fields[name] <= MAX_ID
    if "limit" in fields:
        assert type(fields["limit"]) is int and 1 <= fields["limit"] <= 200
    if "client_id" in fields:
        assert isinstance(fields["client_id"], str)
        assert 0 < len(fields["client_id"]) <= MAX_CLIENT_ID_CHARS
    for name, most in (("body", MAX_BODY_CHARS), ("note", MAX_NOTE_CHARS)):
        if name in fields:
            text = fields[name]
            assert isinstance(text, str) and len(text) <= most and text == text.strip()
            assert "\x00" not in text
            text.encode("utf-8")  # no lone surrogate
    if "body" in fields:
        assert fields["body"]
    if "state" in fields:
        assert type(fields["state"]) is bool
    if "status" in fields:
        assert fields["status"] in PRESENCE_STATUSES
    for name in ("add", "remove"):
        if name in fields:
            assert isinstance(fields[name], list) and len(fields[name]) <= MAX_TAGS_PER_FRAME
            assert all(isinstance(slug, str) and 0 < len(slug) <= 40 for slug in fields[name])
    if request.type == "thread.tag":
        assert fields["add"] or fields["remove"]


def parse_outcome(text: str) -> Request | ChatError:
    """The Request, checked against the limits, or the ChatError, checked for its code;
    any other exception fails the test."""
    try:
        request = parse_frame(text)
    except ChatError as error:
        outcome = error
    else:
        assert_within_limits(request)
        return request
    assert outcome.code.value in PARSE_ERRORS, outcome.code
    assert outcome.ref is None or len(outcome.ref) <= MAX_REF_CHARS
    return outcome


@settings(max_examples=600, deadline=None)
@given(frames)
def test_parse_frame_on_frame_shaped_objects(frame):
    outcome = parse_outcome(dumps(frame))
    if isinstance(outcome, ChatError) and isinstance(frame.get("ref"), str):
        ref = frame["ref"]
        if len(ref) <= MAX_REF_CHARS and outcome.code.value != "too_large":
            assert outcome.ref == ref  # the error can be matched to its request


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_parse_frame_on_any_json_value(value):
    outcome = parse_outcome(dumps(value))
    if not isinstance(value, dict):
        assert isinstance(outcome, ChatError) and outcome.code.value == "bad_json"


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec=None, exclude_categories=()), max_size=300))
def test_parse_frame_on_any_text(text):
    parse_outcome(text)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(min_value=MAX_FRAME_BYTES - 8, max_value=MAX_FRAME_BYTES + 8),
    st.sampled_from("aé€😀"),
)
def test_the_size_limit_counts_utf8_bytes(size, character):
    head, tail = '{"type":"thread.open","p":"', '"}'
    room = size - len(head) - len(tail)
    width = len(character.encode())
    text = head + character * (room // width) + "a" * (room % width) + tail
    assert len(text.encode()) == size
    outcome = parse_outcome(text)
    assert isinstance(outcome, ChatError) == (size > MAX_FRAME_BYTES)


def test_non_finite_and_huge_numbers_are_invalid_not_crashes():
    for value in (math.nan, math.inf, -math.inf, 1e308, 2**64, -(2**64)):
        outcome = parse_outcome(dumps({"type": "read", "thread": 1, "seq": value}))
        assert isinstance(outcome, ChatError) and outcome.code.value == "invalid"


# --- The same, over the real socket ----------------------------------------------------------

# Frames for a live socket: mostly about the user's own thread, so they reach the
# actions and the database, mixed with garbage that never parses.
live_frames = st.one_of(
    frames.map(dumps),
    st.fixed_dictionaries(
        {"type": st.sampled_from(list(PARSERS)), "thread": st.just("OWN")},
        optional={name: json_values for name in FIELDS if name != "thread"},
    ).map(dumps),
    any_text,
    st.binary(max_size=40),
)


@pytest.fixture
def cast(transactional_db):
    """A member with a thread and her coach; a supervisor."""
    member, coach, supervisor = make_member(), make_coach(), make_supervisor()
    thread = make_thread(member, coach=coach, messages=2)
    return {"member": member, "coach": coach, "supervisor": supervisor, "thread": thread}


@pytest.mark.parametrize("role", ["member", "coach", "supervisor"])
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(live_frames, min_size=1, max_size=15))
def test_random_frames_never_crash_the_consumer(cast, role, sequence):
    thread_id = cast["thread"].pk

    async def run() -> None:
        socket = await connect(cast[role])
        assert socket.hello is not None
        for n, frame in enumerate(sequence):
            if isinstance(frame, str):
                frame = frame.replace('"OWN"', str(thread_id))
                await socket.send(frame)
            else:
                await socket.communicator.send_input({"type": "websocket.receive", "bytes": frame})
            probe = await socket.request(
                {"type": "thread.history", "thread": thread_id, "limit": 1, "ref": f"probe{n}"},
                "thread.messages",
                timeout=5,
            )
            assert probe["thread"] == thread_id
        for frame in socket.backlog + await socket.drain(0.05):
            assert isinstance(frame.get("type"), str), frame
            if frame["type"] == "error":
                # Not `unavailable`: the database is up, so that would be an action
                # failing on input it should have refused.
                assert frame["code"] in PARSE_ERRORS | {"not_found", "forbidden", "conflict"}, frame
                assert "Traceback" not in frame["message"]
        await socket.close()

    with override_settings(CHAT_RATE_PER_10S=100_000):
        async_to_sync(run)()
