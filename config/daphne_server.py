"""daphne's Server, with its periodic checks paid per connection that needs one.

daphne looks at every connection it holds every second (has its application finished,
has its client gone?) and every two seconds (is a timeout or a ping due?). With 5,000
idle sockets on a process those two loops were a third of its idle CPU
(docs/benchmarks.md, "Idle sockets"). Here the same checks run on the connections that
are due one: a finished application or a departed client puts its connection up for
reaping, and an open socket is looked at when its next ping or its end of life comes
due. What a check does is still daphne's: the protocol's own ``check_timeouts``, and
``application_checker``'s rules, kept line for line below.

``python -m config.serve`` serves with this class (config/serve.py); plain ``daphne``
still serves the same application with daphne's own loops.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from concurrent.futures import CancelledError
from typing import Any

from daphne import server as daphne_server
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import reactor

# daphne's own logger, so its messages read the same whichever loop reaped them.
logger = logging.getLogger(daphne_server.__name__)

OPEN = WebSocketProtocol.STATE_OPEN


class Server(daphne_server.Server):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Connections whose application finished or whose client left.
        self.ending: set[Any] = set()
        # Connections looked at on every tick, as daphne does: HTTP requests and sockets
        # still opening or already closing, short-lived all of them.
        self.unsettled: set[Any] = set()
        # Open sockets by the whole second their next check is due, that second for each,
        # and the due seconds as a heap.
        self.due: dict[int, set[Any]] = {}
        self.due_second: dict[Any, int] = {}
        self.due_seconds: list[int] = []

    # --- what daphne tells its server about a connection -------------------------------

    def protocol_connected(self, protocol: Any) -> None:
        super().protocol_connected(protocol)
        self.unsettled.add(protocol)

    def protocol_disconnected(self, protocol: Any) -> None:
        super().protocol_disconnected(protocol)
        self.ending.add(protocol)
        self.unschedule(protocol)

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Any:
        queue = super().create_application(protocol, scope)
        instance = self.connections.get(protocol, {}).get("application_instance")
        if instance is not None:
            instance.add_done_callback(lambda _: self.ending.add(protocol))
        return queue

    # --- the two loops ------------------------------------------------------------------

    def application_checker(self) -> None:
        """daphne's reaping, for the connections whose application ended or client left."""
        for protocol in list(self.ending):
            if self.reap(protocol):
                self.ending.discard(protocol)
        reactor.callLater(1, self.application_checker)

    def reap(self, protocol: Any) -> bool:
        """One connection through daphne's application_checker; True once nothing is left
        to wait for (it is forgotten, or its application ended and its client is still
        there: her leaving puts it back up)."""
        details = self.connections.get(protocol)
        if details is None:
            return True
        disconnected = details.get("disconnected", None)
        application_instance = details.get("application_instance", None)
        if (
            disconnected
            and time.time() - disconnected > self.application_close_timeout
            and application_instance
            and not application_instance.done()
        ):
            logger.warning(
                "Application instance %r for connection %s took too long to shut down and "
                "was killed.",
                application_instance,
                repr(protocol),
            )
            application_instance.cancel()
        if application_instance and application_instance.done():
            try:
                exception = application_instance.exception()
            except (CancelledError, asyncio.CancelledError):
                pass
            else:
                if exception:
                    if isinstance(exception, KeyboardInterrupt):
                        self.stop()
                    else:
                        logger.error(
                            "Exception inside application: %s", exception, exc_info=exception
                        )
                        if not disconnected:
                            protocol.handle_exception(exception)
            del details["application_instance"]
            application_instance = None
        if not application_instance and disconnected:
            # Its place in unsettled goes at the next timeout_checker, its schedule went
            # when it disconnected.
            del self.connections[protocol]
        return not application_instance

    def timeout_checker(self) -> None:
        """daphne's timeouts and pings: every tick for the unsettled, when due for the open."""
        now = time.time()
        for protocol in list(self.unsettled):
            if protocol not in self.connections:
                self.unsettled.discard(protocol)
            elif isinstance(protocol, WebSocketProtocol) and protocol.state == OPEN:
                self.unsettled.discard(protocol)
                self.schedule(protocol, now)
            else:
                protocol.check_timeouts()
        while self.due_seconds and self.due_seconds[0] <= now:
            for protocol in self.due.pop(heapq.heappop(self.due_seconds)):
                del self.due_second[protocol]
                # A ping moves last_ping on, and so does every frame the client sends.
                protocol.check_timeouts()
                if protocol in self.connections:
                    self.schedule(protocol, now)
        reactor.callLater(2, self.timeout_checker)

    # --- the schedule of open sockets ---------------------------------------------------

    def schedule(self, protocol: Any, now: float) -> None:
        """Look at an open socket again when daphne would first act on it: a ping after
        ping_interval without a frame from the client, a close at websocket_timeout."""
        self.unschedule(protocol)
        if protocol.state != OPEN:
            self.unsettled.add(protocol)
            return
        due = protocol.last_ping + self.ping_interval
        if self.websocket_timeout >= 0:
            due = min(due, protocol.socket_opened + self.websocket_timeout)
        # daphne acts once the time is strictly past; never due in a second already gone.
        second = max(math.floor(due) + 1, math.floor(now) + 1)
        sockets = self.due.get(second)
        if sockets is None:
            self.due[second] = sockets = set()
            heapq.heappush(self.due_seconds, second)
        sockets.add(protocol)
        self.due_second[protocol] = second

    def unschedule(self, protocol: Any) -> None:
        second = self.due_second.pop(protocol, None)
        if second is not None:
            self.due[second].discard(protocol)
