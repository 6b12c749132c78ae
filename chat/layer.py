"""The channel layer failing and coming back, for the whole process.

A restarted Redis has forgotten every group (the core layer keeps them there), so
once the layer answers again every socket of the process, and the queue feed, must
re-join its groups: not only those that saw the failure. In channels-redis's core
layer the process's receivers share one Redis read under a lock, and only the one
holding it sees the error; after a short outage the others may never see one, and
stayed deaf to live events, silently, until they reconnected.

So the first receiver to find the layer back calls `recovery.back()`: every other
enrolled receiver re-joins its groups at once, and those waiting out a retry back-off
wake. Before, each waited out its own back-off (up to 7.5 s) or never re-joined.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

Rejoin = Callable[[], Awaitable[None]]


class LayerRecovery:
    """Who re-joins what after the layer fails, and the back-offs cut short when it is back."""

    def __init__(self) -> None:
        self._rejoins: set[Rejoin] = set()
        self._waiting: set[asyncio.Future[None]] = set()
        self._running: set[asyncio.Task[None]] = set()  # tasks are weakly held by the loop
        # A receiver saw the layer fail since the last round of re-joins. Several may
        # find it back within moments of each other (each was mid-retry): one round.
        self._lost = False

    def enrol(self, rejoin: Rejoin) -> None:
        """`rejoin` re-adds one receiver's groups; called after every outage."""
        self._rejoins.add(rejoin)

    def leave(self, rejoin: Rejoin) -> None:
        self._rejoins.discard(rejoin)

    async def wait(self, seconds: float) -> bool:
        """A retry back-off: `seconds`, or less if the layer is found back meanwhile.

        True when cut short by back(): the caller's groups are being re-joined for it.
        """
        woken = asyncio.get_running_loop().create_future()
        self._waiting.add(woken)
        try:
            await asyncio.wait_for(woken, seconds)
        except TimeoutError:
            return False
        finally:
            self._waiting.discard(woken)
        return True

    def lost(self) -> None:
        """A receiver's layer call failed: the next back() re-joins everyone."""
        self._lost = True

    def back(self, found_by: Rejoin | None = None) -> None:
        """The layer answered again after failing: every receiver re-joins its groups.

        `found_by` has just re-joined its own; the others re-join in a task each, and
        those waiting out a back-off wake to receive again. Once per failure.
        """
        if not self._lost:
            return
        self._lost = False
        loop = asyncio.get_running_loop()
        for woken in self._waiting:
            if woken.get_loop() is loop and not woken.done():
                woken.set_result(None)
        for rejoin in list(self._rejoins):
            if rejoin != found_by:
                task = loop.create_task(self._rejoin(rejoin))
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    async def _rejoin(self, rejoin: Rejoin) -> None:
        try:
            await rejoin()
        except Exception as error:
            # Down again: whichever receiver finds it back next starts another round.
            self._lost = True
            logger.warning("re-joining groups failed: %s", type(error).__name__)


recovery = LayerRecovery()
