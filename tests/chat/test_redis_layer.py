"""The Pub/Sub layer with pipelined publishes (chat/redis_layer.py), on a private Redis:
what many sockets publish at once all arrives, in the order each one published it,
in fewer round trips than publishes; a Redis that is down fails the publishes
waiting on it, and the layer publishes again once Redis is back.
"""

from __future__ import annotations

import asyncio

from redis._parsers import _AsyncHiredisParser
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, DefaultParser
from redis.exceptions import ConnectionError

from chat.redis_layer import PipelinedPubSubChannelLayer
from tests.support.redis_server import RedisServer


def make_layer(server: RedisServer) -> PipelinedPubSubChannelLayer:
    host = {"address": server.url, "socket_timeout": None, "socket_connect_timeout": 1}
    return PipelinedPubSubChannelLayer(hosts=[host], prefix="t")


async def drain(layer: PipelinedPubSubChannelLayer, channel: str, count: int) -> list[dict]:
    return [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(count)]


async def test_concurrent_publishes_all_arrive_in_each_senders_order(private_redis, monkeypatch):
    layer = make_layer(private_redis)
    round_trips = 0  # writes to Redis: one per command, or per pipeline
    send = Connection.send_packed_command

    async def counted(connection: Connection, *args, **kwargs):
        nonlocal round_trips
        round_trips += 1
        return await send(connection, *args, **kwargs)

    monkeypatch.setattr(Connection, "send_packed_command", counted)
    try:
        channels = [await layer.new_channel() for _ in range(2)]
        for channel in channels:
            await layer.group_add("room", channel)

        async def sender(name: str) -> None:
            for n in range(100):
                await layer.group_send("room", {"type": "chat.frame", "frame": f"{name}:{n}"})

        await asyncio.gather(*(sender(name) for name in "abcde"))

        for channel in channels:
            frames = [event["frame"] for event in await drain(layer, channel, 500)]
            for name in "abcde":
                mine = [frame for frame in frames if frame.startswith(f"{name}:")]
                assert mine == [f"{name}:{n}" for n in range(100)]
        # Five senders, each awaiting its publish: after the first round trip, each
        # carried what the other senders had queued while it was on its way.
        assert round_trips <= 500 / 4
    finally:
        await layer.flush()


async def test_publishes_fail_while_redis_is_down_and_work_once_it_is_back(private_redis):
    layer = make_layer(private_redis)
    try:
        channel = await layer.new_channel()
        await layer.group_add("room", channel)
        await layer.group_send("room", {"type": "chat.frame", "frame": "before"})
        assert (await drain(layer, channel, 1))[0]["frame"] == "before"

        private_redis.stop()
        results = await asyncio.gather(
            *(layer.group_send("room", {"type": "chat.frame", "frame": n}) for n in range(5)),
            return_exceptions=True,
        )
        assert all(isinstance(result, Exception) for result in results), results

        private_redis.start()
        # Listened to with a plain client: re-subscribing after a restart is upstream's.
        probe = Redis.from_url(private_redis.url).pubsub()
        await probe.subscribe("probe")
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            try:
                await layer.send("probe", {"type": "chat.frame", "frame": "after"})
                break
            except ConnectionError:
                # A connection from before the restart, found dead: the next one is new.
                assert asyncio.get_running_loop().time() < deadline, "never published again"
        received = None
        while received is None and asyncio.get_running_loop().time() < deadline:
            received = await probe.get_message(ignore_subscribe_messages=True, timeout=1)
        assert received is not None, "published, never delivered"
        assert layer.deserialize(received["data"])["frame"] == "after"
        await probe.aclose()
    finally:
        await layer.flush()


async def test_a_cancelled_publisher_does_not_fail_the_others_in_its_batch(private_redis):
    layer = make_layer(private_redis)
    try:
        channel = await layer.new_channel()
        sends = [
            asyncio.ensure_future(layer.send(channel, {"type": "chat.frame", "frame": n}))
            for n in range(10)
        ]
        await asyncio.sleep(0)  # all ten queued, the first batch on its way
        sends[3].cancel()
        results = await asyncio.gather(*sends, return_exceptions=True)
        assert [r for n, r in enumerate(results) if n != 3] == [None] * 9
        assert isinstance(results[3], asyncio.CancelledError)
        # Queued before it was cancelled: its event went out with the rest.
        frames = sorted(event["frame"] for event in await drain(layer, channel, 10))
        assert frames == list(range(10))
    finally:
        await layer.flush()


async def test_one_messages_events_go_out_together_and_each_reports_its_own_outcome(
    private_redis, monkeypatch
):
    layer = make_layer(private_redis)
    round_trips = 0
    send = Connection.send_packed_command

    async def counted(connection: Connection, *args, **kwargs):
        nonlocal round_trips
        round_trips += 1
        return await send(connection, *args, **kwargs)

    try:
        channels = {group: await layer.new_channel() for group in ("member", "coach", "watch")}
        for group, channel in channels.items():
            await layer.group_add(group, channel)
        await layer.group_send("nobody", {"type": "chat.frame", "frame": "connect first"})
        monkeypatch.setattr(Connection, "send_packed_command", counted)
        sends = [(group, {"type": "chat.frame", "frame": group}) for group in channels]
        assert await layer.group_send_many(sends) == [None, None, None]
        assert round_trips == 1, "a message's three events in one pipeline"
        for group, channel in channels.items():
            assert (await drain(layer, channel, 1))[0]["frame"] == group

        private_redis.stop()
        results = await layer.group_send_many(sends)
        assert len(results) == 3 and all(isinstance(r, Exception) for r in results), results
    finally:
        await layer.flush()


def test_the_layers_replies_are_parsed_in_c():
    # redis-py falls back to its pure-Python reply parser when hiredis is missing or too
    # old, silently; measured, that parser cost a quarter of a message's CPU on the
    # Pub/Sub layer (docs/benchmarks.md).
    assert DefaultParser is _AsyncHiredisParser
