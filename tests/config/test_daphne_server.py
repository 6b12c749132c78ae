"""config/daphne_server.py: daphne's connection checks, run only on connections due one.

Each scenario runs on daphne's own Server and on ours, on a clock the test moves, with
daphne's real WebSocket protocol class deciding when to ping or close: both must act on
the same sockets at the same moments, and ours must not look at the others. The
same checks against a real daphne process: tests/e2e/test_live_chat.py.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from daphne import server as daphne_server
from daphne.ws_protocol import WebSocketProtocol

from config import daphne_server as ours

PING_INTERVAL = 20


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Socket(WebSocketProtocol):
    """A WebSocket as daphne holds it, minus the network: what it was told to do."""

    def __init__(self, server: Any, name: str) -> None:  # autobahn's __init__ needs a factory
        self.server = server
        self.name = name
        self.state = self.STATE_OPEN
        self.socket_opened = self.last_ping = time.time()
        self.pinged: list[float] = []
        self.closed_at: list[float] = []
        self.checks = 0

    def __repr__(self) -> str:
        return self.name

    def check_timeouts(self) -> None:
        self.checks += 1
        super().check_timeouts()

    def _sendAutoPing(self) -> None:
        self.pinged.append(time.time())

    def serverClose(self, code: int = 1000) -> None:
        self.closed_at.append(time.time())
        self.state = self.STATE_CLOSING

    def handle_exception(self, exception: BaseException) -> None:
        self.failed_with = exception

    def hears_from_client(self) -> None:
        """A frame from the client: daphne's onMessage moves last_ping."""
        self.last_ping = time.time()


def make(kind: type, **options: Any) -> daphne_server.Server:
    server = kind(
        application=None, endpoints=["tcp:port=0"], ping_interval=PING_INTERVAL, **options
    )
    server.connections = {}
    return server


def connect(server: daphne_server.Server, name: str) -> Socket:
    socket = Socket(server, name)
    server.protocol_connected(socket)
    return socket


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)
    # The loops re-arm themselves with callLater; the test calls them by hand instead.
    monkeypatch.setattr(daphne_server.reactor, "callLater", lambda *args, **kwargs: None)
    return clock


def run(clock: Clock, server: daphne_server.Server, seconds: int, every_second=None) -> None:
    """daphne's schedule: application_checker every second, timeout_checker every two."""
    for second in range(1, seconds + 1):
        clock.now += 1
        if every_second:
            every_second(second)
        server.application_checker()
        if second % 2 == 0:
            server.timeout_checker()


SERVERS = pytest.mark.parametrize(
    "kind", [daphne_server.Server, ours.Server], ids=["daphne", "ours"]
)


@SERVERS
def test_a_silent_socket_is_pinged_once_every_ping_interval_as_daphne_does(clock, kind) -> None:
    server = make(kind)
    start = clock.now
    silent = connect(server, "silent")
    talking = connect(server, "talking")

    # The talking client sends a frame every 5 s: daphne never pings her.
    run(clock, server, 65, lambda s: talking.hears_from_client() if s % 5 == 0 else None)

    assert [round(t - start) for t in silent.pinged] == [22, 44]
    assert talking.pinged == []
    assert silent.closed_at == talking.closed_at == []


def test_ours_looks_at_an_idle_socket_only_when_its_ping_is_due(clock) -> None:
    def idle_for_a_minute(kind: type) -> list[Socket]:
        server = make(kind)
        sockets = [connect(server, f"{n}") for n in range(200)]
        run(clock, server, 60)
        return sockets

    theirs = idle_for_a_minute(daphne_server.Server)
    mine = idle_for_a_minute(ours.Server)

    assert [len(s.pinged) for s in mine] == [len(s.pinged) for s in theirs] == [2] * 200
    # daphne: every socket every 2 s; ours: when it turned open, and when each ping fell due.
    assert sum(s.checks for s in theirs) == 200 * 30
    assert sum(s.checks for s in mine) == 200 * 2


@SERVERS
def test_a_socket_past_websocket_timeout_is_closed_on_the_same_tick(clock, kind) -> None:
    server = make(kind, websocket_timeout=31)
    start = clock.now
    socket = connect(server, "long-lived")

    run(clock, server, 40, lambda s: socket.hears_from_client())

    assert round(socket.closed_at[0] - start) == 32
    assert socket.pinged == []


@SERVERS
def test_a_socket_still_opening_is_checked_every_tick(clock, kind) -> None:
    server = make(kind, websocket_connect_timeout=5)
    socket = connect(server, "handshaking")
    socket.state = socket.STATE_CONNECTING
    rejected = []
    socket.serverReject = lambda: rejected.append(time.time())

    start = clock.now
    run(clock, server, 8)

    assert [round(t - start) for t in rejected] == [6, 8]


def test_a_socket_that_closed_is_no_longer_scheduled(clock) -> None:
    server = make(ours.Server)
    socket = connect(server, "gone")
    run(clock, server, 2)  # now open and scheduled for its first ping
    assert server.due_second

    socket.state = socket.STATE_CLOSED
    server.protocol_disconnected(socket)
    run(clock, server, 30)

    assert socket.pinged == []
    assert server.due_second == {} and server.connections == {}


# --- Reaping: what application_checker does with finished applications and gone clients ----


async def started(server: daphne_server.Server, socket: Socket, application) -> asyncio.Future:
    server.application = application
    server.create_application(socket, {"type": "websocket"})
    await asyncio.sleep(0)
    return server.connections[socket]["application_instance"]


@SERVERS
async def test_a_client_gone_and_its_application_finished_are_forgotten(clock, kind) -> None:
    server = make(kind)
    socket = connect(server, "leaves")
    finish = asyncio.Event()

    async def application(scope, receive, send):
        await finish.wait()

    await started(server, socket, application)
    server.protocol_disconnected(socket)
    finish.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    run(clock, server, 1)

    assert server.connections == {}


@SERVERS
async def test_an_application_that_outlives_its_client_is_cancelled_then_forgotten(
    clock, kind, caplog
) -> None:
    server = make(kind, application_close_timeout=3)
    socket = connect(server, "stuck")

    async def application(scope, receive, send):
        await asyncio.Event().wait()

    instance = await started(server, socket, application)
    server.protocol_disconnected(socket)
    run(clock, server, 3)
    assert not instance.done() and socket in server.connections

    run(clock, server, 1)
    await asyncio.sleep(0)
    assert instance.cancelled()
    assert "took too long to shut down and was killed" in caplog.text
    run(clock, server, 1)
    assert server.connections == {}


@SERVERS
async def test_an_application_that_fails_is_logged_and_its_socket_told(clock, kind, caplog) -> None:
    server = make(kind)
    socket = connect(server, "fails")

    async def application(scope, receive, send):
        raise ValueError("the consumer broke")

    await started(server, socket, application)
    await asyncio.sleep(0)
    run(clock, server, 1)

    assert isinstance(socket.failed_with, ValueError)
    assert "Exception inside application: the consumer broke" in caplog.text
    # The client is still there until the protocol closes: then it is forgotten.
    assert socket in server.connections
    server.protocol_disconnected(socket)
    run(clock, server, 1)
    assert server.connections == {}
