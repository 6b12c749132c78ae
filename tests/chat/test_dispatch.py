"""The consumer's loop over its two sources (chat/consumers.py, dispatch_serially): the
contract of channels' await_many_dispatch, which every handler of the socket relies on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.exceptions import StopConsumer

from chat.consumers import dispatch_serially


class Source:
    """A receive callable fed by the test, counting the receives asked of it."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.asked = 0
        self.cancelled = False

    async def __call__(self) -> dict[str, Any]:
        self.asked += 1
        try:
            return await self.queue.get()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_messages_are_dispatched_one_at_a_time_and_a_source_is_read_again_only_after():
    socket, layer = Source(), Source()
    running: list[str] = []
    dispatched: list[str] = []
    release = asyncio.Event()

    async def dispatch(message: dict[str, Any]) -> None:
        running.append(message["name"])
        assert len(running) == 1, f"{running} dispatched at once"
        if message["name"] == "slow":
            await release.wait()
        dispatched.append(message["name"])
        running.pop()

    loop = asyncio.ensure_future(dispatch_serially([socket, layer], dispatch))
    socket.queue.put_nowait({"name": "slow"})
    await settle()
    layer.queue.put_nowait({"name": "event"})
    socket.queue.put_nowait({"name": "next frame"})
    await settle()
    # The slow frame holds everything: the event waits, the next frame is not read yet.
    assert dispatched == []
    assert socket.asked == 1
    release.set()
    await settle()
    assert dispatched == ["slow", "event", "next frame"]
    assert socket.asked == 3 and layer.asked == 2  # each waits for its next message
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    assert socket.cancelled and layer.cancelled


async def test_the_first_handler_to_raise_ends_it_with_its_exception_and_nothing_more_runs():
    socket, layer = Source(), Source()
    dispatched: list[str] = []

    async def dispatch(message: dict[str, Any]) -> None:
        dispatched.append(message["name"])
        if message["name"] == "disconnect":
            await asyncio.sleep(0.01)  # the event below arrives meanwhile
            raise StopConsumer

    loop = asyncio.ensure_future(dispatch_serially([socket, layer], dispatch))
    socket.queue.put_nowait({"name": "disconnect"})
    await settle()
    layer.queue.put_nowait({"name": "event after the end"})
    with pytest.raises(StopConsumer):
        await asyncio.wait_for(loop, 2)
    assert dispatched == ["disconnect"]
    assert socket.cancelled is False  # not asked again after its last message
    assert layer.queue.qsize() == 0  # taken by its receive, never dispatched


async def test_a_failing_handler_error_reaches_the_consumer():
    socket = Source()

    async def dispatch(message: dict[str, Any]) -> None:
        raise ValueError("handler bug")

    socket.queue.put_nowait({"name": "frame"})
    with pytest.raises(ValueError, match="handler bug"):
        await asyncio.wait_for(dispatch_serially([socket], dispatch), 2)
