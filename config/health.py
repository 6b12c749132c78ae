"""Liveness, readiness and metrics, answered before Django's middleware.

Load balancers and Prometheus reach each process by its address, with whatever
Host header they like and over plain HTTP: these paths skip ALLOWED_HOSTS and the
HTTPS redirect (they carry no user data). Put /metrics behind the proxy's
allow-list (deploy/nginx.conf hides it from the public).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from chat.layer import recovery
from config import metrics

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 3.0
PATHS = ("/healthz", "/readyz", "/metrics")


async def health_app(scope: dict[str, Any], receive: Callable, send: Callable) -> None:
    """ASGI app for PATHS."""
    if scope["path"] == "/healthz":
        await _respond(send, 200, {"status": "ok"})
    elif scope["path"] == "/readyz":
        status, body = await readiness()
        await _respond(send, status, body)
    else:
        body, content_type = metrics.render()
        await _send(send, 200, body, content_type)


async def readiness() -> tuple[int, dict[str, Any]]:
    """The database answers and the channel layer carries a message; 503 names what is down.

    The reason is the error's class, never its text (which may carry hosts or
    credentials).
    """
    database, layer = await asyncio.gather(_check(_database_round_trip), _check(_layer_round_trip))
    checks = {"database": database, "channel_layer": layer}
    down = sorted(name for name, result in checks.items() if result != "ok")
    body = {
        "status": "unavailable" if down else "ok",
        "down": down,
        "checks": checks,
        # What each check reached, so "channel_layer" down reads as "Redis is down".
        "backends": {"database": connection.vendor, "channel_layer": _layer_backend()},
    }
    return (503 if down else 200), body


def _layer_backend() -> str:
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    return "redis" if "redis" in backend.lower() else "in-memory"


async def _respond(send: Callable, status: int, body: dict[str, Any]) -> None:
    await _send(send, status, json.dumps(body).encode(), "application/json")


async def _send(send: Callable, status: int, body: bytes, content_type: str) -> None:
    headers = [(b"content-type", content_type.encode()), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _check(probe: Callable[[], Awaitable[None]]) -> str:
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return "down: timeout"
    except Exception as error:
        logger.warning("readiness probe %s failed: %s", probe.__name__, type(error).__name__)
        return f"down: {type(error).__name__}"
    return "ok"


class MigrationsPending(Exception):
    """The database answers but lacks tables this code needs: `manage.py migrate` has not run."""


# Once a process has seen its migrations applied they stay applied: the check (which
# loads every migration file) runs until then, not on every probe.
_migrated = False


@sync_to_async(thread_sensitive=False)
def _database_round_trip() -> None:
    # Its own thread: a database that hangs must not hang the probe behind frames.
    global _migrated
    try:
        if not _migrated:
            _migrated = not _pending_migrations()
            if not _migrated:
                raise MigrationsPending
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                # SQLite's readers never wait for its writer (WAL): a database whose
                # write lock is held past the busy timeout stores no message, yet
                # answers SELECT 1. Taking the write lock is the check.
                cursor.execute("BEGIN IMMEDIATE")
                cursor.execute("ROLLBACK")
            else:
                cursor.execute("SELECT 1")
                cursor.fetchone()
    finally:
        connection.close()


def _pending_migrations() -> bool:
    executor = MigrationExecutor(connection)
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


async def _layer_round_trip() -> None:
    layer = get_channel_layer()
    # The default "specific." prefix, as the sockets' channels have: the core Redis
    # layer pops one list per prefix and process, under one lock that a socket's
    # receive holds while it waits, so a channel of its own prefix is never read
    # while any socket is open and the probe timed out.
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "readyz.ping"})
    message = await layer.receive(channel)
    if message.get("type") != "readyz.ping":
        raise RuntimeError("channel layer returned a different message")
    # It carries messages again: the process's sockets re-join their groups now.
    recovery.back()
    # A receive that is cancelled makes the Redis layers drop the channel (the
    # Pub/Sub layer unsubscribes it), so probes leave nothing behind.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 0.01)
