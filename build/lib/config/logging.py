"""Log filters."""

from __future__ import annotations

import asyncio
import logging


class LayerTeardownNoise(logging.Filter):
    """Drops channels-redis's traceback for an unsubscribe cancelled as a socket closes.

    The Pub/Sub layer logs it at ERROR when many sockets close at once (a load
    generator stopping, a proxy restarting): the closing socket's task is cancelled
    while the layer unsubscribes its channel. Nothing is lost: the channel is
    already forgotten by the layer, and messages to it are dropped. Left in, it
    would page an operator for every mass disconnect.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        cancelled = record.exc_info is not None and isinstance(
            record.exc_info[1], asyncio.CancelledError
        )
        return not (cancelled and record.getMessage().startswith("Unexpected exception while"))
