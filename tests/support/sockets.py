"""Channels' WebsocketCommunicator on the real ASGI application, logged in with a real
session cookie: the same middleware stack (origin check, session auth) as production."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from config.asgi import application

ORIGIN = b"http://localhost"
_refs = itertools.count(1)


# channels' wrapper returns the thread's database connection afterwards (PostgreSQL
# refuses to drop a test database that a forgotten connection still holds).
@database_sync_to_async
def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


class Socket:
    """A test socket: send frames, await frames by type, assert on what arrived."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.backlog: list[dict[str, Any]] = []
        self.hello: dict[str, Any] | None = None
        self.close_code: int | None = None

    async def send(self, frame: dict[str, Any] | str) -> None:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        # send_to() refuses an empty frame, which a hostile client can still send.
        await self.communicator.send_input({"type": "websocket.receive", "text": text})

    async def output(self, timeout: float) -> dict[str, Any]:
        """The next ASGI message from the consumer.

        Not communicator.receive_output(): on a timeout that cancels the
        consumer, and these tests often wait to prove that nothing arrives.
        """
        if self.communicator.future.done():
            self.communicator.future.result()  # raises the consumer's exception
        return await asyncio.wait_for(self.communicator.output_queue.get(), timeout)

    async def receive(self, timeout: float = 3.0) -> dict[str, Any]:
        if self.backlog:
            return self.backlog.pop(0)
        message = await self.output(timeout)
        if message["type"] == "websocket.close":
            raise ConnectionClosed(message.get("code"))
        return json.loads(message["text"])

    async def expect(self, frame_type: str, timeout: float = 3.0, **match: Any) -> dict[str, Any]:
        """The next frame of this type matching these fields; other frames stay queued."""
        return await self.first(
            lambda f: f.get("type") == frame_type and all(f.get(k) == v for k, v in match.items()),
            timeout,
            f"{frame_type} {match}",
        )

    async def expect_thread(self, timeout: float = 3.0, **match: Any) -> dict[str, Any]:
        """The next `thread` frame whose T has these field values; returns the T."""
        frame = await self.first(
            lambda f: (
                f.get("type") == "thread" and all(f["thread"].get(k) == v for k, v in match.items())
            ),
            timeout,
            f"thread {match}",
        )
        return frame["thread"]

    async def first(self, wanted, timeout: float, description: str) -> dict[str, Any]:
        """The first frame `wanted` accepts, within `timeout`; the others stay queued."""
        skipped = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise AssertionError(f"no {description}; got {skipped + self.backlog}")
                try:
                    frame = await self.receive(remaining)
                except TimeoutError:
                    continue
                if wanted(frame):
                    return frame
                skipped.append(frame)
        finally:
            self.backlog = skipped + self.backlog

    async def request(
        self, frame: dict[str, Any], reply_type: str, timeout: float = 3.0
    ) -> dict[str, Any]:
        """Send with a ref; the reply carrying that ref, which must be of reply_type."""
        ref = frame.setdefault("ref", f"r{next(_refs)}")
        await self.send(frame)
        reply = await self.first(lambda f: f.get("ref") == ref, timeout, f"reply to {frame}")
        assert reply["type"] == reply_type, f"expected {reply_type}, got {reply}"
        return reply

    async def error(self, frame: dict[str, Any] | str, timeout: float = 3.0) -> dict[str, Any]:
        """Send a frame that must fail; the error frame."""
        if isinstance(frame, dict):
            return await self.request(frame, "error", timeout)
        await self.send(frame)
        return await self.expect("error", timeout)

    async def drain(self, wait: float = 0.2) -> list[dict[str, Any]]:
        """Everything that arrives within `wait` seconds."""
        frames = list(self.backlog)
        self.backlog = []
        while True:
            try:
                frames.append(await self.receive(wait))
            except TimeoutError:
                return frames

    async def nothing(self, frame_type: str, wait: float = 0.3) -> None:
        frames = await self.drain(wait)
        unexpected = [frame for frame in frames if frame.get("type") == frame_type]
        assert not unexpected, f"unexpected {frame_type}: {unexpected}"
        self.backlog = frames

    async def closed(self, timeout: float = 3.0) -> int | None:
        """Wait for the server to close the socket; its close code."""
        if self.close_code is not None:
            return self.close_code
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            try:
                message = await self.output(deadline - loop.time())
            except TimeoutError:
                break
            if message["type"] == "websocket.close":
                return message.get("code")
        raise AssertionError("socket was not closed")

    async def close(self) -> None:
        await self.communicator.disconnect()


class ConnectionClosed(Exception):
    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


async def connect(user=None, *, origin: bytes | None = ORIGIN, cookie: str | None = None) -> Socket:
    """Open a socket as this user (or anonymous); waits for hello when accepted."""
    headers = []
    if origin is not None:
        headers.append((b"origin", origin))
    if user is not None:
        cookie = await session_cookie(user)
    if cookie is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    socket = Socket(communicator)
    socket.accepted = connected
    if connected and user is not None:
        try:
            first = await socket.receive(5)
        except ConnectionClosed as closed:
            socket.close_code = closed.code
            return socket
        if first["type"] == "hello":
            socket.hello = first
        else:
            socket.backlog.append(first)
    return socket
