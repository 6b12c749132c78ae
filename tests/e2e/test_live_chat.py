"""A real daphne process, real logins through /accounts/login/, the `websockets` client."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.factories import PASSWORD, amake_coach, amake_member
from tests.support.live_client import LiveSocket, login
from tests.support.raw_socket import RawWebSocket

TEXT, PING = 0x1, 0x9

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


async def test_a_silent_client_is_pinged_and_dropped_only_if_she_never_answers(daphne_factory):
    # daphne's keepalive, as config/daphne_server.py schedules it: ping a socket silent for
    # the ping interval, drop it when the ping goes unanswered for the ping timeout.
    server = daphne_factory(options=("--ping-interval", "1", "--ping-timeout", "2"))
    gone, there = await amake_member(), await amake_member()
    gone_cookie = await asyncio.to_thread(login, server.url, gone.username, PASSWORD)
    there_cookie = await asyncio.to_thread(login, server.url, there.username, PASSWORD)
    # websockets answers every ping by itself, as browsers do.
    answering = await LiveSocket.connect(server.url, there_cookie)
    await answering.expect("hello")

    def frames_until_dropped() -> tuple[list[int], float]:
        started = time.monotonic()
        silent = RawWebSocket(server.url, gone_cookie)  # reads, never answers
        opcodes = []
        while (frame := silent.read_frame()) is not None:
            opcodes.append(frame[0])
        silent.close()
        return opcodes, time.monotonic() - started

    opcodes, dropped_after = await asyncio.to_thread(frames_until_dropped)

    assert opcodes[0] == TEXT  # hello
    assert PING in opcodes
    assert dropped_after < 8, dropped_after  # ~1-3 s to the ping, 2 s to the drop
    # The one who answered, silent just as long, is still served.
    await answering.send({"type": "thread.open", "ref": "o"})
    assert (await answering.expect("thread", ref="o"))["thread"]["member"]["id"] == there.pk
    await answering.close()
