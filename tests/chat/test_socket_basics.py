"""The socket as a client meets it: authentication, origin, hello, and the first thread."""

from __future__ import annotations

import pytest

from tests.support.factories import amake_member
from tests.support.sockets import connect

pytestmark = pytest.mark.django_db(transaction=True)


async def test_anonymous_socket_is_accepted_then_closed_4401():
    socket = await connect(None)
    assert socket.accepted
    assert await socket.closed() == 4401


async def test_expired_session_cookie_is_closed_4401():
    socket = await connect(None, cookie="not-a-session")
    assert await socket.closed() == 4401


async def test_foreign_origin_is_refused_at_the_handshake():

    member = await amake_member()
    socket = await connect(member, origin=b"https://evil.example")
    assert not socket.accepted


async def test_member_hello_names_her_and_her_threads():

    member = await amake_member("Dana")
    socket = await connect(member)
    assert socket.hello["protocol"] == 1
    assert socket.hello["user"] == {"id": member.pk, "role": "member", "name": "Dana"}
    assert socket.hello["threads"] == []
    await socket.close()
