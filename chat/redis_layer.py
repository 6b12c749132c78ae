"""channels-redis's Pub/Sub layer with its publishes pipelined (CHANNEL_LAYER=pubsub).

Upstream, every publish of a process to one Redis server holds one asyncio lock for
a whole round trip: a process publishes one event at a time. Each message sends
three (the member's group, the coach's, the thread's watchers), so under load events
queued behind the lock, and behind every callback the event loop ran between a
publish going out and its reply being read. Measured at 200 msgs/s over 500 pairs
on one process, waiting to publish made up most of the slowest messages' delay:
up to 330 ms, in bursts (docs/benchmarks.md).

Here a shard sends what is waiting as one pipeline (one write, one round trip),
and what arrives meanwhile waits for the next. One batch at a time keeps Redis
seeing publishes in the order they were made, over one connection, as before; only
the waiting in single file is gone. Subscribing, receiving and errors are upstream's:
a publish that fails raises, as it did.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close

Pending = tuple[str, bytes, asyncio.Future[None]]


class PipelinedShard(RedisSingleShardConnection):
    """One Redis server: publishes batched into pipelines, one batch in flight."""

    def __init__(self, host: dict[str, Any], channel_layer: RedisPubSubLoopLayer) -> None:
        super().__init__(host, channel_layer)
        self._pending: list[Pending] = []
        self._sender: asyncio.Task[None] | None = None

    async def publish(self, channel: str, message: bytes) -> None:
        await self.enqueue(channel, message)

    def enqueue(self, channel: str, message: bytes) -> asyncio.Future[None]:
        """Queue a publish for the next batch; the future settles when it went out."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((channel, message, future))
        if self._sender is None or self._sender.done():
            self._sender = loop.create_task(self._send_pending())
        return future

    async def _send_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                self._ensure_redis()
                pipeline = self._redis.pipeline(transaction=False)
                for channel, message, _ in batch:
                    pipeline.publish(channel, message)
                await pipeline.execute()
            except BaseException as error:
                failure = error
                if isinstance(error, asyncio.CancelledError):
                    # The loop is going away (flush): nothing more will be sent.
                    batch, self._pending = batch + self._pending, []
                    failure = ConnectionError("the channel layer was closed")
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(failure)
                if not isinstance(error, Exception):
                    raise
            else:
                for *_, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def flush(self) -> None:
        if self._sender is not None and not self._sender.done():
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        self._sender = None
        await super().flush()


class PipelinedLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shards = [PipelinedShard(shard.host, self) for shard in self._shards]

    async def group_send_many(
        self, sends: list[tuple[str, dict[str, Any]]]
    ) -> list[BaseException | None]:
        """group_send to several groups at once: each one's error, or None if it went out.

        The same publishes as one group_send each, without a task per publish to
        gather: a message's three events cost the event loop three tasks and a
        gathering future before (docs/benchmarks.md).
        """
        outcomes: list[asyncio.Future[None] | Exception] = []
        for group, message in sends:
            try:
                channel = self._get_group_channel_name(group)
                serialized = self.channel_layer.serialize(message)
            except Exception as error:
                outcomes.append(error)
            else:
                outcomes.append(self._get_shard(channel).enqueue(channel, serialized))
        results: list[BaseException | None] = []
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                results.append(outcome)
                continue
            try:
                await outcome
            except Exception as error:
                results.append(error)
            else:
                results.append(None)
        return results


class PipelinedPubSubChannelLayer(RedisPubSubChannelLayer):
    """`channels_redis.pubsub.RedisPubSubChannelLayer`, its shards publishing pipelined."""

    def _get_layer(self) -> PipelinedLoopLayer:
        # Upstream's, building the loop layer above (one per event loop).
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]
        except KeyError:
            layer = PipelinedLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
            return layer

    # The per-message calls, straight to this loop's layer. Upstream reaches them through
    # __getattr__, which builds a partial and a proxy coroutine on every call: 2-3 % of
    # the process's CPU in the profile, for a receive per event and a publish per message
    # (docs/benchmarks.md). The rest still goes through __getattr__.

    async def receive(self, channel: str) -> dict[str, Any]:
        return await self._get_layer().receive(channel)

    async def group_send_many(
        self, sends: list[tuple[str, dict[str, Any]]]
    ) -> list[BaseException | None]:
        """PipelinedLoopLayer.group_send_many on this event loop's layer."""
        return await self._get_layer().group_send_many(sends)
