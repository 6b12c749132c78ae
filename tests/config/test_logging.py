"""Log filters: the layer's teardown noise goes, real errors stay."""

from __future__ import annotations

import asyncio
import logging

from config.logging import LayerTeardownNoise


def record(message: str, error: BaseException | None) -> logging.LogRecord:
    exc_info = (type(error), error, None) if error else None
    return logging.LogRecord(
        "channels_redis.pubsub", logging.ERROR, __file__, 1, message, (), exc_info
    )


def test_a_cancelled_unsubscribe_is_dropped():
    noise = record("Unexpected exception while cleaning-up channel:", asyncio.CancelledError())
    assert LayerTeardownNoise().filter(noise) is False


def test_other_errors_pass():
    real = record("Unexpected exception while cleaning-up channel:", ConnectionError("down"))
    assert LayerTeardownNoise().filter(real) is True
    assert LayerTeardownNoise().filter(record("Unexpected exception in receive task", None))
