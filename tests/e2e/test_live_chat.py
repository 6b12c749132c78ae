"""A real daphne process, real logins through /accounts/login/, the `websockets` client."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.factories import PASSWORD, amake_coach, amake_member
from tests.support.live_client import LiveSocket, login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def test_member_and_coach_chat_through_a_daphne_server(daphne_server):
    member = await amake_member("Dana")
    coach = await amake_coach("Kelly", specialties=("leaking",))
    member_cookie = await asyncio.to_thread(login, daphne_server.url, member.username, PASSWORD)
    coach_cookie = await asyncio.to_thread(login, daphne_server.url, coach.username, PASSWORD)

    coach_socket = await LiveSocket.connect(daphne_server.url, coach_cookie)
    await coach_socket.expect("hello")
    await coach_socket.send({"type": "presence.set", "status": "online", "ref": "p"})
    await coach_socket.expect("presence", ref="p")

    member_socket = await LiveSocket.connect(daphne_server.url, member_cookie)
    hello = await member_socket.expect("hello")
    assert hello["user"]["name"] == "Dana"
    await member_socket.send({"type": "thread.open", "ref": "o"})
    thread = (await member_socket.expect("thread", ref="o"))["thread"]
    await member_socket.send(
        {
            "type": "message.send",
            "ref": "m",
            "thread": thread["id"],
            "client_id": "c1",
            "body": "I leak when I run",
        }
    )
    ack = await member_socket.expect("message.ack", ref="m")
    assert ack["seq"] == 1

    assigned = await coach_socket.expect("thread")
    assert assigned["thread"]["status"] == "active"
    assert assigned["thread"]["coach"]["id"] == coach.pk
    assert "leaking" in assigned["thread"]["tags"]

    await coach_socket.send(
        {
            "type": "message.send",
            "ref": "r",
            "thread": thread["id"],
            "client_id": "k1",
            "body": "Hi Dana, Kelly here.",
        }
    )
    await coach_socket.expect("message.ack", ref="r")
    reply = await member_socket.expect("message.new")
    while reply["message"]["client_id"] != "k1":
        reply = await member_socket.expect("message.new")
    assert reply["message"]["sender"] == {"id": coach.pk, "role": "coach", "name": "Kelly"}
    await member_socket.close()
    await coach_socket.close()
    # Served as deployed: daphne on uvloop (config/serve.py), Twisted's sockets included.
    assert "event loop: uvloop" in daphne_server.log()
