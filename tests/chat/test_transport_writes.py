"""How daphne's sockets send (chat/transport.write_at_end_of_turn), on a Twisted asyncio
reactor over the test's own event loop: everything written arrives, in order, whether
the client reads fast, slowly or goes away; a closing connection sends its buffer first.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from twisted.internet import protocol, tcp
from twisted.internet.asyncioreactor import AsyncioSelectorReactor

from chat.transport import Transport, write_at_end_of_turn

CHUNK = 100


def chunks(first: int, count: int) -> list[bytes]:
    """Numbered lines the client can check for order and completeness."""
    return [f"{n:09d}".encode().ljust(CHUNK - 1, b".") + b"\n" for n in range(first, first + count)]


class Server(protocol.Protocol):
    def __init__(self) -> None:
        self.lost: list[object] = []
        self.connected_once = asyncio.get_running_loop().create_future()

    def connectionMade(self) -> None:
        self.connected_once.set_result(None)

    def connectionLost(self, reason: object) -> None:
        self.lost.append(reason)


class Client:
    """A plain socket that reads only when told to (asyncio's streams read ahead)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        self.sock.setblocking(False)
        self.loop = asyncio.get_running_loop()

    async def connect(self, port: int) -> None:
        await self.loop.sock_connect(self.sock, ("127.0.0.1", port))

    async def read(self, size: int | None = None) -> bytes:
        """`size` bytes, or everything up to the end of the stream."""
        received = bytearray()
        while size is None or len(received) < size:
            data = await self.loop.sock_recv(self.sock, 1 << 20)
            if not data:
                break
            received += data
        return bytes(received)

    def reset(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


class Served:
    """A Twisted TCP server on the running loop and one asyncio client connected to it."""

    def __init__(self, reactor: AsyncioSelectorReactor) -> None:
        self.reactor = reactor
        self.server = Server()
        factory = protocol.Factory.forProtocol(lambda: self.server)
        self.port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.writes_watched = 0

    async def connect(self) -> Client:
        client = Client()
        await client.connect(self.port.getHost().port)
        await asyncio.wait_for(self.server.connected_once, 5)
        return client

    @property
    def connection(self) -> tcp.Connection:
        return self.server.transport


@pytest.fixture
async def served(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    # The patch replaces a method of Twisted's class: undo it after each test.
    monkeypatch.setattr(tcp.Connection, "startWriting", tcp.Connection.startWriting)
    write_at_end_of_turn()
    loop = asyncio.get_running_loop()
    reactor = AsyncioSelectorReactor(loop)
    served = Served(reactor)
    add_writer = loop.add_writer

    def counting_add_writer(*args, **kwargs):
        served.writes_watched += 1
        return add_writer(*args, **kwargs)

    monkeypatch.setattr(loop, "add_writer", counting_add_writer)
    yield served
    served.port.stopListening()
    reactor.removeAll()
    reactor.waker.connectionLost(None)


async def test_a_burst_written_in_one_turn_arrives_whole_and_in_order(served: Served) -> None:
    client = await served.connect()
    sent = chunks(0, 500)
    for chunk in sent:
        served.connection.write(chunk)
    # Later turns write more, as frames trickle out to a live socket.
    for turn in range(20):
        await asyncio.sleep(0)
        served.connection.write(chunks(500 + turn, 1)[0])
    expected = b"".join(sent + [chunks(500 + turn, 1)[0] for turn in range(20)])

    received = await asyncio.wait_for(client.read(len(expected)), 5)

    assert received == expected
    # The point of the change: a client that keeps up never costs a registration with
    # the event loop for writability (two epoll_ctl calls and a wake-up a frame before).
    assert served.writes_watched == 0
    client.close()


async def test_a_client_that_stops_reading_keeps_its_bytes_buffered_until_it_reads(
    served: Served,
) -> None:
    client = await served.connect()
    sent = chunks(0, 160_000)  # 16 MB: far beyond what the kernel buffers for a socket
    served.connection.write(b"".join(sent))
    await asyncio.sleep(0.2)

    # The kernel took what it would; the rest waits in Twisted's buffer, which is what
    # the slow-client limit reads (Transport.backlog), and the socket is watched for
    # writability so that it goes out as the client reads.
    buffered = len(served.connection.dataBuffer) - served.connection.offset
    buffered += served.connection._tempDataLen
    assert buffered > 1_000_000
    assert served.connection in served.reactor._writers

    received = await asyncio.wait_for(client.read(len(sent) * CHUNK), 10)
    assert received == b"".join(sent)
    await asyncio.sleep(0.05)
    assert served.connection not in served.reactor._writers
    client.close()


async def test_closing_sends_everything_written_before_the_close(served: Served) -> None:
    client = await served.connect()
    sent = chunks(0, 3_000)
    for chunk in sent:
        served.connection.write(chunk)
    served.connection.loseConnection()

    received = await asyncio.wait_for(client.read(), 5)  # to end of stream

    assert received == b"".join(sent)
    await asyncio.sleep(0.05)
    assert len(served.server.lost) == 1
    client.close()


async def test_an_aborted_connection_drops_its_buffer_and_ends_once(served: Served) -> None:
    client = await served.connect()
    served.connection.write(b"never sent\n")
    served.connection.abortConnection()

    try:
        received = await asyncio.wait_for(client.read(), 5)
    except ConnectionResetError:
        received = b""

    assert received == b""
    await asyncio.sleep(0.05)
    assert len(served.server.lost) == 1
    client.close()


async def test_writing_to_a_client_that_went_away_ends_the_connection_once(
    served: Served,
) -> None:
    client = await served.connect()
    client.reset()  # as a phone dropping off the network
    await asyncio.sleep(0.05)
    for _ in range(50):
        served.connection.write(chunks(0, 100)[0] * 100)
        await asyncio.sleep(0.01)

    assert len(served.server.lost) == 1
    assert not served.connection.connected


async def test_the_slow_client_measure_still_sees_the_backlog(served: Served) -> None:
    """Transport.backlog() is how a socket that stopped reading is found and closed."""
    client = await served.connect()

    class Protocol:
        transport = served.connection
        application_queue = asyncio.Queue()

    under = Transport(Protocol())
    served.connection.write(b"x" * 16_000_000)
    assert under.backlog() == 16_000_000  # nothing leaves before the end of the turn
    await asyncio.sleep(0.2)
    assert 0 < under.backlog() < 16_000_000

    await asyncio.wait_for(client.read(16_000_000), 10)
    await asyncio.sleep(0.05)
    assert under.backlog() == 0
    client.close()


def test_the_service_installs_it() -> None:
    import config.asgi  # noqa: F401

    assert getattr(tcp.Connection.startWriting, "at_end_of_turn", False)
