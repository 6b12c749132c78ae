"""A real daphne process, real logins through /accounts/login/, the `websockets` client."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from pathlib import Path

import pytest
import websockets
from channels.db import database_sync_to_async

from tests.e2e.conftest import free_port, server_env
from tests.support.factories import PASSWORD, amake_coach, amake_member
from tests.support.live_client import LiveSocket, login
from tests.support.raw_socket import RawWebSocket

TEXT, PING = 0x1, 0x9
ROOT = Path(__file__).resolve().parents[2]
APP = "config.asgi:application"

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


@pytest.mark.parametrize("program", ["config.serve", "daphne"])
async def test_a_frame_over_one_mib_closes_the_socket_with_1009(daphne_factory, program):
    # PROTOCOL.md: "A frame over 1 MiB closes the socket with 1009". autobahn's default
    # cut the TCP connection instead (the client saw 1006, a network failure). Plain
    # daphne too: it is how outside rigs start the service.
    server = daphne_factory(program=program)
    member = await amake_member("Dana")
    cookie = await asyncio.to_thread(login, server.url, member.username, PASSWORD)
    too_big = '{"type":"thread.open","pad":"' + "x" * (1024 * 1024) + '"}'

    async def close_code_after_sending(message: str | list[str]) -> int | None:
        """The code of the close frame the server answers with (None: no close frame)."""
        socket = await LiveSocket.connect(server.url, cookie)
        await socket.expect("hello")
        with contextlib.suppress(websockets.ConnectionClosed):
            await socket.connection.send(message)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.next()
        return closed.value.rcvd.code if closed.value.rcvd else None

    assert await close_code_after_sending(too_big) == 1009
    # The same message in 64 KiB fragments: each frame is small, the message is not.
    pieces = [too_big[start : start + 65536] for start in range(0, len(too_big), 65536)]
    assert await close_code_after_sending(pieces) == 1009

    # The process serves on: a new socket of hers opens and is answered.
    again = await LiveSocket.connect(server.url, cookie)
    await again.expect("hello")
    await again.send({"type": "thread.open", "ref": "o"})
    await again.expect("thread", ref="o")
    await again.close()


@pytest.mark.parametrize("program", ["config.serve", "daphne"])
async def test_background_work_starts_without_waiting_for_a_request(tmp_path, program):
    # A process restarted after a crash, with nobody sending it anything yet, must
    # still heartbeat, expire the dead process's sockets and sweep the queue.
    from routing.models import Worker

    log = tmp_path / "server.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", program, "-b", "127.0.0.1", "-p", str(free_port()), APP],
            cwd=ROOT,
            env=server_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        seen = False
        while not seen and time.monotonic() < deadline and process.poll() is None:
            await asyncio.sleep(0.5)
            seen = await database_sync_to_async(Worker.objects.filter(pid=process.pid).exists)()
        assert seen, log.read_text()[-3000:]
    finally:
        process.terminate()
        process.wait(10)
