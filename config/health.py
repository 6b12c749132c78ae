"""Liveness, readiness and metrics endpoints for load balancers and Prometheus."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from config import metrics

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 3.0


async def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and serving requests."""
    return JsonResponse({"status": "ok"})


async def readyz(request: HttpRequest) -> JsonResponse:
    """Ready for traffic: the database answers and the channel layer carries a message.

    503 names each dependency that is down; the reason is the error's class,
    never its text (which may carry hosts or credentials).
    """
    database, layer = await asyncio.gather(_check(_database_round_trip), _check(_layer_round_trip))
    checks = {"database": database, "channel_layer": layer}
    down = sorted(name for name, result in checks.items() if result != "ok")
    return JsonResponse(
        {"status": "unavailable" if down else "ok", "down": down, "checks": checks},
        status=503 if down else 200,
    )


def metrics_view(request: HttpRequest) -> HttpResponse:
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)


async def _check(probe) -> str:
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return "down: timeout"
    except Exception as error:
        logger.warning("readiness probe %s failed: %s", probe.__name__, type(error).__name__)
        return f"down: {type(error).__name__}"
    return "ok"


@sync_to_async(thread_sensitive=False)
def _database_round_trip() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


async def _layer_round_trip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel("readyz.")
    await layer.send(channel, {"type": "readyz.ping"})
    message = await layer.receive(channel)
    if message.get("type") != "readyz.ping":
        raise RuntimeError("channel layer returned a different message")
    # A receive that is cancelled makes the Redis layers drop the channel (the
    # Pub/Sub layer unsubscribes it), so probes leave nothing behind.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 0.01)
