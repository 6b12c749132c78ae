"""Periodic work inside every daphne process: no separate worker to run.

Started when daphne's reactor starts (config/asgi.py; daphne has no lifespan
events), or else by the first request a process serves. Each second it does
whatever is due; every step is safe to run in several processes at once, because
each one takes its rows under a lock or by compare-and-set, so the processes need
no leader, and a timer fires within about a second of due as long as any process
is up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from chat.events import publish
from chat.hop import background_hop
from routing.actions import presence
from routing.actions.assignment import assign_waiting
from routing.actions.unanswered import unanswered_flag
from routing.queue_feed import feed
from routing.triage import catalogue

logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0


@dataclass
class Job:
    name: str
    every: float
    run: Callable[[], object]
    due: float = 0.0


def _sweep() -> None:
    assign_waiting()


# Three heartbeats per stale period: one late tick does not declare a worker dead.
HEARTBEAT_SECONDS = settings.CHAT_WORKER_STALE_SECONDS / 3

JOBS = [
    Job("heartbeat", HEARTBEAT_SECONDS, presence.worker_heartbeat),
    Job("dead workers", HEARTBEAT_SECONDS, presence.workers_expire),
    Job("grace", 1.0, presence.grace_expire),
    Job("unanswered", 1.0, unanswered_flag),
    Job("assignment sweep", 2.0, _sweep),
    Job("triage rules", 5.0, catalogue.refresh_if_changed),
]

_task: asyncio.Task | None = None


def start_background_work() -> None:
    """Start this process's ticker and queue feed once, on the running event loop."""
    global _task
    if not settings.CHAT_BACKGROUND_WORK or (_task is not None and not _task.done()):
        return
    _task = asyncio.get_running_loop().create_task(_run())
    feed.start()


async def _run() -> None:
    while True:
        now = time.monotonic()
        for job in JOBS:
            if now < job.due:
                continue
            job.due = now + job.every
            hop = await background_hop(job.run)
            await publish(hop.events)
            if hop.error is not None:
                # Logged by class only: the message may quote a row, and the
                # database being down would otherwise flood the log each second.
                logger.warning("%s failed: %s", job.name, type(hop.error).__name__)
        await asyncio.sleep(TICK_SECONDS)
