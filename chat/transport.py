"""Under daphne's sockets: flow control, which ASGI does not offer (see Transport), how
the bytes of a frame leave the process (see write_at_end_of_turn), and how a socket
that breaks the WebSocket rules is closed (see close_failed_sockets_with_a_code)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

# daphne reads whatever a client sends and queues it for the consumer, without limit: a
# client sending faster than its frames are handled grew the process by hundreds of MB
# in seconds. Reading stops while this many of its frames wait (at most 64 KiB each
# that we accept, 1 MiB that daphne does).
READ_AHEAD_FRAMES = 16


class Transport:
    """The TCP connection under a socket that daphne serves, for the flow control ASGI
    does not offer: how far the client is behind reading what we send, and reading
    from the client no faster than its frames are handled and its rate limit allows.

    daphne's send is partial(server.handle_reply, protocol), reached through channels'
    session wrapper. The protocol queues each frame it reads for the application, with
    no limit; its Twisted transport keeps what the kernel would not take in dataBuffer
    (from offset) and _tempDataBuffer, and stops reading the socket while paused.
    tests/e2e/test_faults.py fails if daphne or Twisted change that.
    """

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.transport = protocol.transport
        self.paused = False
        self.rest_until = 0.0
        self.wake: asyncio.Handle | None = None
        # When the wake is due, kept here: uvloop hands back a plain Handle, with no
        # when(), for a delay under a millisecond.
        self.wake_at = 0.0

    @classmethod
    def under(cls, send: Callable) -> Transport | None:
        """The transport under this ASGI send callable; None when not served by daphne."""
        for _ in range(4):
            if isinstance(send, functools.partial):
                protocol = send.args[0] if send.args else None
                transport = getattr(protocol, "transport", None)
                if not hasattr(transport, "_tempDataLen") or not hasattr(
                    protocol, "application_queue"
                ):
                    return None
                return cls(protocol)
            send = getattr(getattr(send, "__self__", None), "real_send", None)
        return None

    def backlog(self) -> int:
        """Bytes sent to the client that it has not read yet (beyond the kernel's buffer)."""
        transport = self.transport
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    def regulate(self, rest: float = 0.0) -> None:
        """Read from the client only while fewer than READ_AHEAD_FRAMES of its frames wait
        to be handled, and not for `rest` seconds (it is over its rate): what it sends
        meanwhile waits in its own buffers, not in this process's memory and CPU."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if rest:
            self.rest_until = max(self.rest_until, now + rest)
        resting = now < self.rest_until
        read = not resting and self.protocol.application_queue.qsize() < READ_AHEAD_FRAMES
        if read and self.paused:
            self.paused = False
            self.transport.resumeProducing()
        elif not read and not self.paused:
            self.paused = True
            self.transport.pauseProducing()
        # Paused while the queue drains, each frame handled calls again; while resting,
        # nothing may be left to handle, so a timer does.
        if resting and (self.wake is None or self.wake_at < self.rest_until):
            if self.wake is not None:
                self.wake.cancel()
            self.wake_at = self.rest_until
            self.wake = loop.call_at(self.rest_until, self._woken)

    def _woken(self) -> None:
        # uvloop's timers keep milliseconds and may fire a little before rest_until:
        # still resting then, regulate() sets the next wake, which needs this one gone.
        self.wake = None
        self.regulate()


def write_at_end_of_turn() -> None:
    """Send what Twisted's TCP connections are given at the end of the event loop's
    turn, straight to the socket, and watch a socket for writability only when the
    kernel would not take everything.

    Twisted registers a connection with the event loop for writability on every write
    and unregisters it once the buffer is sent: two epoll_ctl calls, a wake-up and
    asyncio's bookkeeping for every frame daphne sends, 11.8 % of the server's samples
    under load (docs/benchmarks.md). asyncio's own transports try the send first; this
    does the same, a turn later, so that the frames a socket is given in one turn
    (an ack and a message.new, say) leave in one send. A connection already waiting
    for writability is left to Twisted, and what the kernel does not take stays in
    Twisted's buffers, where Transport.backlog() finds it.

    Only connections of an asyncio reactor, daphne's, are changed; the others keep
    Twisted's own path. Calling this again changes nothing.
    """
    from twisted.internet import tcp
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor

    if getattr(tcp.Connection.startWriting, "at_end_of_turn", False):
        return
    register = tcp.Connection.startWriting

    def flush(connection: tcp.Connection) -> None:
        connection._send_pending = False
        reactor = connection.reactor
        # Closed or aborted since (abortConnection drops the buffer), or Twisted is
        # already waiting for the socket to take more: nothing for us to do.
        if not connection.connected or connection._aborting or connection in reactor._writers:
            return
        # What the reactor runs when epoll says writable: doWrite, and the disconnect
        # it may return (a reset peer, a closing connection whose buffer is sent).
        reactor._readOrWrite(connection, False)
        if connection.connected and (
            len(connection.dataBuffer) > connection.offset or connection._tempDataLen
        ):
            register(connection)

    def start_writing(connection: tcp.Connection) -> None:
        reactor = connection.reactor
        if not isinstance(reactor, AsyncioSelectorReactor):
            register(connection)
        elif not connection.__dict__.get("_send_pending") and connection not in reactor._writers:
            connection._send_pending = True
            reactor._asyncioEventloop.call_soon(flush, connection)

    start_writing.at_end_of_turn = True  # type: ignore[attr-defined]
    tcp.Connection.startWriting = start_writing


def close_failed_sockets_with_a_code() -> None:
    """Close a socket that autobahn fails (a frame or message over daphne's 1 MiB, a
    protocol error) with a close frame carrying the code, instead of cutting the TCP
    connection.

    autobahn, under daphne, fails a connection by dropping it by default (failByDrop),
    so a client saw 1006 where PROTOCOL.md promises 1009 for a frame over 1 MiB, and
    could not tell it apart from a network failure. With failByDrop off, autobahn sends
    the close frame (1009, or 1002 for a protocol error), skips what the client sends
    after it, and drops the connection if no close answers it within its close
    handshake timeout (1 s). daphne sets no option of its own for this, so the
    factory's default is changed before daphne builds it; the class is daphne's
    whichever server class runs it. Calling this again changes nothing.
    """
    from daphne.ws_protocol import WebSocketFactory

    if getattr(WebSocketFactory.resetProtocolOptions, "closes_with_a_code", False):
        return
    reset = WebSocketFactory.resetProtocolOptions

    def reset_protocol_options(factory: WebSocketFactory) -> None:
        reset(factory)
        factory.failByDrop = False

    reset_protocol_options.closes_with_a_code = True  # type: ignore[attr-defined]
    WebSocketFactory.resetProtocolOptions = reset_protocol_options
