"""A client for fault tests against live servers: it keeps what a real client keeps
(the messages it holds per thread, by seq; what was acked), reads its socket in the
background, and resyncs the way docs/protocol.md tells clients to.

Helpers to poll a live server (readiness, a process's memory) live here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import websockets

from tests.support.live_client import login

_refs = itertools.count(1)


class ChatClient:
    """One socket of one user, as a client that keeps state across reconnects."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password
        self.base_url: str | None = None
        self.cookie: str | None = None
        self.connection: websockets.ClientConnection | None = None
        self.hello: dict[str, Any] | None = None
        self.held: dict[int, dict[int, dict[str, Any]]] = {}  # thread → seq → M
        self.acked: dict[str, dict[str, Any]] = {}  # client_id → ack
        self.frames: list[dict[str, Any]] = []  # every frame, in arrival order
        self.close_code: int | None = None
        self._replies: dict[str, asyncio.Future] = {}
        self._arrived = asyncio.Event()
        self._reader: asyncio.Task | None = None

    # --- connecting -------------------------------------------------------------------

    async def connect(self, base_url: str, *, timeout: float = 10.0) -> dict[str, Any]:
        """Log in on this server if needed, open the socket, and wait for hello."""
        if self.cookie is None:
            self.cookie = await asyncio.to_thread(login, base_url, self.username, self.password)
        self.base_url = base_url
        self.close_code = None
        self.hello = None
        self.connection = await websockets.connect(
            base_url.replace("http://", "ws://") + "/ws/chat/",
            origin=base_url,
            additional_headers={"Cookie": f"sessionid={self.cookie}"},
            open_timeout=timeout,
            max_size=2**22,
        )
        self._reader = asyncio.create_task(self._read(self.connection))
        self.hello = await self.wait_for(lambda f: f["type"] == "hello", timeout, "hello")
        return self.hello

    async def reconnect(self, urls: list[str], *, timeout: float = 20.0) -> dict[str, Any]:
        """Try each server in turn with a short back-off until one says hello."""
        deadline = time.monotonic() + timeout
        while True:
            for url in urls:
                try:
                    return await self.connect(url, timeout=3.0)
                except (OSError, TimeoutError, websockets.WebSocketException, AssertionError):
                    await self.close()
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.username} could not reconnect to {urls}")
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self.connection = None

    async def _read(self, connection: websockets.ClientConnection) -> None:
        try:
            async for text in connection:
                self._take(json.loads(text))
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = connection.close_code if connection.close_code is not None else 1006
            for future in self._replies.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"closed with {self.close_code}"))
            self._replies.clear()
            self._arrived.set()

    def _take(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)
        if frame["type"] == "message.new":
            self._hold(frame["message"])
        elif frame["type"] == "thread.messages":
            for message in frame["messages"]:
                self._hold(message)
        elif frame["type"] == "message.ack":
            self.acked[frame["client_id"]] = frame
        future = self._replies.pop(frame.get("ref"), None)
        if future is not None and not future.done():
            future.set_result(frame)
        self._arrived.set()

    def _hold(self, message: dict[str, Any]) -> None:
        held = self.held.setdefault(message["thread"], {})
        # A message held twice must be the same message.
        assert held.setdefault(message["seq"], message)["id"] == message["id"], message

    # --- requests ---------------------------------------------------------------------

    @property
    def open(self) -> bool:
        return self.connection is not None and self.close_code is None

    async def request(self, frame: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Send with a fresh ref; the reply (or error) carrying it."""
        if not self.open:
            raise ConnectionError(f"{self.username}'s socket is closed")
        ref = frame.setdefault("ref", f"r{next(_refs)}")
        future = asyncio.get_running_loop().create_future()
        self._replies[ref] = future
        try:
            await self.connection.send(json.dumps(frame))
        except websockets.ConnectionClosed as closed:
            self._replies.pop(ref, None)
            if future.done():
                future.exception()  # retrieved: the reader failed it as the socket closed
            raise ConnectionError(str(closed)) from None
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._replies.pop(ref, None)

    async def send_message(
        self, thread_id: int, client_id: str, body: str, timeout: float = 10.0
    ) -> dict[str, Any]:
        return await self.request(
            {"type": "message.send", "thread": thread_id, "client_id": client_id, "body": body},
            timeout,
        )

    async def wait_for(
        self, wanted: Callable[[dict[str, Any]], bool], timeout: float, what: str, *, since: int = 0
    ) -> dict[str, Any]:
        """The first frame from index `since` on that `wanted` accepts."""
        deadline = time.monotonic() + timeout
        while True:
            for frame in self.frames[since:]:
                if wanted(frame):
                    return frame
            since = len(self.frames)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self.close_code is not None and not self.open):
                raise AssertionError(
                    f"{self.username}: no {what} (closed: {self.close_code}); "
                    f"last frames {self.frames[-5:]}"
                )
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    # --- resync -----------------------------------------------------------------------

    def last_seq(self, thread_id: int) -> int:
        """The last seq held without a gap before it: where a client resyncs from."""
        held = self.held.get(thread_id, {})
        seq = 0
        while seq + 1 in held:
            seq += 1
        return seq

    async def resync(self, thread_id: int) -> list[dict[str, Any]]:
        """thread.sync from the last seq held until has_more is false; the thread, in order."""
        while True:
            page = await self.request(
                {"type": "thread.sync", "thread": thread_id, "after_seq": self.last_seq(thread_id)}
            )
            assert page["type"] == "thread.messages", page
            if not page["has_more"]:
                break
        held = self.held.get(thread_id, {})
        return [held[seq] for seq in sorted(held)]


def readyz(base_url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{base_url}/readyz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def eventually(
    check: Callable[[], Awaitable[Any]] | Callable[[], Any],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
) -> Any:
    """Poll `check` until it returns something truthy; that value. Fails after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        last = result
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def rss_bytes(pid: int) -> int:
    """A process's resident memory."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")
