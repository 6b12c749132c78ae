"""Faults the service meets in production, provoked against real daphne processes:
Redis and the database going away and coming back, a process killed, a client that
stops reading, and sockets churning by the thousand. docs/reliability.md says what
each test proves."""

from __future__ import annotations

import asyncio
import gc
import json
import sqlite3
import sys
import time
import urllib.request

import pytest
import websockets
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connection

from chat.consumers import CLOSE_TRY_AGAIN_LATER, ChatConsumer
from chat.models import Message, Thread
from coaches.models import CoachProfile
from routing.models import CoachSocket, Worker
from routing.queue_feed import feed
from tests.e2e.conftest import ROOT
from tests.support.chat_client import ChatClient, eventually, readyz, rss_bytes
from tests.support.factories import (
    PASSWORD,
    amake_coach,
    amake_member,
    amake_supervisor,
    amake_thread,
)
from tests.support.live_client import login
from tests.support.raw_socket import RawWebSocket
from tests.support.redis_server import RedisServer
from tests.support.sockets import connect
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.django_db(transaction=True)
e2e = pytest.mark.e2e  # starts real daphne processes; the rest run in-process


async def client(user, url: str) -> ChatClient:
    chat = ChatClient(user.username, PASSWORD)
    await chat.connect(url)
    return chat


@database_sync_to_async
def stored_messages(thread_id: int) -> list[tuple[int, str | None, int | None]]:
    return list(
        Message.objects.filter(thread_id=thread_id)
        .order_by("seq")
        .values_list("seq", "client_id", "sender_id")
    )


@database_sync_to_async
def thread_last_seq(thread_id: int) -> int:
    return Thread.objects.get(pk=thread_id).last_seq


async def assert_transcripts_agree(thread_id: int, clients: list[ChatClient]) -> None:
    """Every client, after resyncing, holds exactly the stored messages, in seq order;
    every acked send is among them exactly once."""
    stored = await stored_messages(thread_id)
    seqs = [seq for seq, _, _ in stored]
    assert seqs == list(range(1, len(stored) + 1)), "a gap or a duplicate in seq"
    assert await thread_last_seq(thread_id) == len(stored)
    for chat in clients:
        transcript = await chat.resync(thread_id)
        assert [m["seq"] for m in transcript] == seqs, chat.username
        assert [m["client_id"] for m in transcript] == [c for _, c, _ in stored]
        for client_id, ack in chat.acked.items():
            if ack["thread"] != thread_id:
                continue
            matching = [m for m in transcript if m["client_id"] == client_id]
            assert len(matching) == 1, (chat.username, client_id)
            assert matching[0]["seq"] == ack["seq"]


async def send_all(chat: ChatClient, thread_id: int, prefix: str, count: int) -> dict[str, str]:
    """Send `count` messages; what each got back: "ack", or the error code."""
    outcome = {}
    for n in range(count):
        client_id = f"{prefix}-{n}"
        reply = await chat.send_message(thread_id, client_id, f"{prefix} message {n}")
        outcome[client_id] = "ack" if reply["type"] == "message.ack" else reply["code"]
    return outcome


# --- Redis stops mid-conversation and comes back ---------------------------------------------


@database_sync_to_async
def coach_sockets(coach_id: int) -> int:
    return CoachSocket.objects.filter(coach_id=coach_id).count()


@database_sync_to_async
def disconnected_at(coach_id: int):
    return CoachProfile.objects.get(user_id=coach_id).disconnected_at


@e2e
@pytest.mark.parametrize("layer", ["pubsub", "core"])
async def test_redis_outage_is_reported_survived_and_recovered_without_a_restart(
    daphne_factory, private_redis, layer
):
    servers = daphne_factory(
        processes=2,
        REDIS_URL=private_redis.url,
        CHANNEL_LAYER=layer,
        CHAT_RATE_PER_10S="1000",
        CHAT_MAX_SOCKETS_PER_USER="2",
    )
    a, b = servers.urls
    member, coach = await amake_member("Dana"), await amake_coach("Kelly", capacity=1)
    other_coach, leaving_coach = await amake_coach("Maria"), await amake_coach("Sam")
    thread = await amake_thread(member, coach=coach)
    phone, tab, laptop = await client(member, a), await client(member, a), await client(member, b)
    console, queue_watcher = await client(coach, b), await client(other_coach, a)
    leaving = await client(leaving_coach, a)
    everyone = [phone, laptop, console]

    reply = await phone.send_message(thread.pk, "before", "hello before the outage")
    assert reply["type"] == "message.ack"
    await console.wait_for(lambda f: f["type"] == "message.new", 5, "message.new before")
    for url in servers.urls:
        assert readyz(url)[0] == 200, "not ready with sockets open"

    private_redis.stop()
    for url in servers.urls:
        _, body = await eventually(
            lambda url=url: (r := readyz(url))[0] == 503 and r, timeout=10, what="readyz 503"
        )
        assert body["down"] == ["channel_layer"], body
    # Sends during the outage are stored and acked (the database is the record) or get
    # `unavailable`; none may hang.
    during = await asyncio.gather(
        send_all(phone, thread.pk, "phone-during", 5),
        send_all(console, thread.pk, "console-during", 5),
    )
    assert {code for outcome in during for code in outcome.values()} <= {"ack", "unavailable"}
    # A socket opened now is told to come back later; sockets closed now are forgotten.
    with pytest.raises(AssertionError, match="closed: 4503"):
        await client(member, b)
    await tab.close()
    await leaving.close()
    assert await eventually(lambda: disconnected_at(leaving_coach.pk), timeout=5, what="grace")
    assert await coach_sockets(leaving_coach.pk) == 0

    private_redis.start()
    for url in servers.urls:
        await eventually(lambda url=url: readyz(url)[0] == 200, timeout=15, what="readyz 200")
    assert all(chat.open for chat in [*everyone, queue_watcher]), "a socket was dropped"

    # Live delivery through the layer works again, both ways, across processes. A
    # process's first socket re-joins its groups (the core layer's are gone) at the end
    # of its back-off; the rest of that process's sockets with it, at once: the laptop
    # shares the console's process and must hear "after-3" without another wait.
    async def delivered(sender: ChatClient, receiver: ChatClient, client_id: str) -> None:
        seen = len(receiver.frames)
        assert (await sender.send_message(thread.pk, client_id, "back"))["type"] == "message.ack"
        await receiver.wait_for(
            lambda f: f["type"] == "message.new" and f["message"]["client_id"] == client_id,
            1,
            f"{client_id} delivered live",
            since=seen,
        )

    attempts = iter(range(100))
    await eventually(
        lambda: _succeeds(delivered(phone, console, f"probe-{next(attempts)}")),
        timeout=10,
        what="live delivery after the restart",
    )
    await delivered(phone, console, "after-1")
    await delivered(console, phone, "after-2")
    await delivered(console, laptop, "after-3")
    # The queue feed of process A hears of a thread queued on process B.
    newcomer = await client(await amake_member("Priya"), b)
    opened = await newcomer.request({"type": "thread.open"})
    seen = len(queue_watcher.frames)
    reply = await newcomer.send_message(opened["thread"]["id"], "first", "is anyone there?")
    assert reply["type"] == "message.ack"
    await queue_watcher.wait_for(
        lambda f: f["type"] == "queue" and f["total"] == 1, 5, "a queue frame", since=seen
    )
    # Her socket closed during the outage no longer counts against her cap.
    tab = await client(member, a)

    await assert_transcripts_agree(thread.pk, everyone)
    for chat in [*everyone, queue_watcher, newcomer, tab]:
        await chat.close()


async def _succeeds(attempt) -> bool:
    try:
        await attempt
    except AssertionError:
        return False
    return True


@e2e
async def test_the_core_layer_delivers_every_message_with_the_queue_feed_listening(
    daphne_factory, private_redis
):
    """The core layer reads one Redis list per channel-name prefix and process, under a
    lock one receiver holds while it waits: the queue feed's channel once had a prefix
    of its own, and a conversation stalled whenever the lock came round to the feed."""
    server = daphne_factory(REDIS_URL=private_redis.url, CHANNEL_LAYER="core")
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    phone, console = await client(member, server.url), await client(coach, server.url)
    for n in range(30):
        sender, receiver = (phone, console) if n % 2 else (console, phone)
        seen = len(receiver.frames)
        assert (await sender.send_message(thread.pk, f"m{n}", "and?"))["type"] == "message.ack"
        await receiver.wait_for(
            lambda f, n=n: f["type"] == "message.new" and f["message"]["client_id"] == f"m{n}",
            3,
            f"message {n} delivered",
            since=seen,
        )
    assert readyz(server.url)[0] == 200  # the probe's channel likewise
    await phone.close()
    await console.close()


# --- The database goes away and comes back ----------------------------------------------------


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


class Sender:
    """Sends messages one after another, as a client that retries with the same client_id
    until acked: every outcome is recorded, so nothing acked can go missing unseen."""

    def __init__(self, chat: ChatClient, thread_id: int, prefix: str) -> None:
        self.chat, self.thread_id, self.prefix = chat, thread_id, prefix
        self.outcomes: dict[str, list[str]] = {}
        self.latencies: list[float] = []
        self.stopping = False

    def saw(self, outcome: str) -> bool:
        return any(outcome in outcomes for outcomes in self.outcomes.values())

    async def run(self) -> None:
        """Send until stopped or the socket is lost (a lost reply is outcome "lost")."""
        while not self.stopping:
            try:
                await self.send(f"{self.prefix}-{len(self.outcomes)}")
            except ConnectionError:
                return

    async def send(self, client_id: str) -> str:
        started = time.monotonic()
        try:
            reply = await self.chat.send_message(self.thread_id, client_id, f"{client_id} text")
        except TimeoutError:
            reply = {"type": "error", "code": "timeout"}
        except ConnectionError:
            self.outcomes.setdefault(client_id, []).append("lost")
            raise
        self.latencies.append(time.monotonic() - started)
        outcome = "ack" if reply["type"] == "message.ack" else reply["code"]
        self.outcomes.setdefault(client_id, []).append(outcome)
        return outcome

    async def retry_until_acked(self, timeout: float) -> None:
        for client_id, outcomes in self.outcomes.items():
            if outcomes[-1] != "ack":
                await eventually(
                    lambda c=client_id: _is_ack(self.send(c)), timeout=timeout, what="retry"
                )


async def _is_ack(outcome) -> bool:
    return await outcome == "ack"


async def _database_outage_under_traffic(url: str, *, cut, restore) -> None:
    """A member and her coach send without pause while `cut()` takes the database away
    until `restore()`: /readyz names it, sends get `unavailable`, then are acked again,
    and after every unacked send is retried with its client_id both clients and the
    database hold the same transcript (nothing half written, nothing lost)."""
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    phone, console = await client(member, url), await client(coach, url)
    senders = [Sender(phone, thread.pk, "phone"), Sender(console, thread.pk, "console")]
    tasks = [asyncio.create_task(sender.run()) for sender in senders]
    await eventually(lambda: all(len(s.outcomes) >= 5 for s in senders), timeout=10, what="traffic")

    cut()
    try:
        _, body = await eventually(
            lambda: (r := readyz(url))[0] == 503 and r, timeout=10, what="readyz 503"
        )
        assert body["down"] == ["database"], body
        await eventually(
            lambda: all(s.saw("unavailable") for s in senders),
            timeout=20,
            what="unavailable during the outage",
        )
    finally:
        restore()
    await eventually(lambda: readyz(url)[0] == 200, timeout=30, what="readyz 200")
    counts = [len(s.outcomes) for s in senders]
    await eventually(
        lambda: all(
            len(s.outcomes) > n + 3 and all(o[-1] == "ack" for o in list(s.outcomes.values())[-3:])
            for s, n in zip(senders, counts, strict=True)
        ),
        timeout=30,
        what="sends acked again",
    )
    for sender in senders:
        sender.stopping = True
    await asyncio.gather(*tasks)
    for sender in senders:
        await sender.retry_until_acked(timeout=10)
    assert phone.open and console.open
    await assert_transcripts_agree(thread.pk, [phone, console])
    await phone.close()
    await console.close()


@e2e
async def test_postgres_outage_gets_unavailable_half_writes_nothing_and_recovers(daphne_factory):
    if not is_postgres():
        pytest.skip("PostgreSQL only (the SQLite pass locks the database file instead)")
    settings = connection.settings_dict
    with TcpProxy(settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)) as proxy:
        proxied = f"postgres://{settings['USER']}@127.0.0.1:{proxy.port}/{settings['NAME']}"
        server = daphne_factory(DATABASE_URL=proxied, CHAT_RATE_PER_10S="1000")
        await _database_outage_under_traffic(server.url, cut=proxy.cut, restore=proxy.restore)


@e2e
async def test_sqlite_locked_gets_unavailable_half_writes_nothing_and_recovers(daphne_factory):
    if is_postgres():
        pytest.skip("SQLite only (the PostgreSQL pass cuts the database connection instead)")
    server = daphne_factory(SQLITE_BUSY_TIMEOUT="1", CHAT_RATE_PER_10S="1000")
    # Another process holds the write lock for longer than the busy timeout.
    lock = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, timeout=10)

    def restore() -> None:
        lock.execute("ROLLBACK")
        lock.close()

    await _database_outage_under_traffic(
        server.url, cut=lambda: lock.execute("BEGIN EXCLUSIVE"), restore=restore
    )


# --- One of two processes is killed under traffic ----------------------------------------------


@database_sync_to_async
def worker_count() -> int:
    return Worker.objects.count()


@database_sync_to_async
def thread_state(thread_id: int) -> tuple[str, int | None]:
    thread = Thread.objects.get(pk=thread_id)
    return thread.status, thread.coach_id


@database_sync_to_async
def stored_by(thread_id: int, sender_id: int) -> set[str]:
    return set(
        Message.objects.filter(thread_id=thread_id, sender_id=sender_id).values_list(
            "client_id", flat=True
        )
    )


@e2e
async def test_a_killed_process_loses_no_acked_message_and_presence_converges(
    daphne_factory, redis_url
):
    servers = daphne_factory(
        processes=2,
        REDIS_URL=redis_url,
        CHAT_RATE_PER_10S="1000",
        CHAT_WORKER_STALE_SECONDS="5",  # a tick stalled by a loaded machine is not death
        CHAT_COACH_GRACE_SECONDS="2",
    )
    a, b = servers.urls
    kelly = await amake_coach("Kelly", status="online")  # comes back on the other process
    maria = await amake_coach("Maria", status="online")  # does not come back
    sam = await amake_coach("Sam", status="online")  # on the surviving process all along
    dana, priya = await amake_member("Dana"), await amake_member("Priya")
    kelly_thread = await amake_thread(dana, coach=kelly)
    maria_thread = await amake_thread(priya, coach=maria)
    dana_phone, priya_phone = await client(dana, a), await client(priya, a)
    priya_laptop = await client(priya, b)
    kelly_console, maria_console = await client(kelly, a), await client(maria, a)
    sam_console = await client(sam, b)
    await eventually(lambda: _equals(worker_count(), 2), timeout=10, what="two heartbeats")
    senders = {
        "dana": Sender(dana_phone, kelly_thread.pk, "dana"),
        "kelly": Sender(kelly_console, kelly_thread.pk, "kelly"),
        "priya": Sender(priya_phone, maria_thread.pk, "priya"),
        "maria": Sender(maria_console, maria_thread.pk, "maria"),
    }
    tasks = [asyncio.create_task(sender.run()) for sender in senders.values()]
    await eventually(
        lambda: all(len(s.outcomes) >= 5 for s in senders.values()), timeout=10, what="traffic"
    )

    servers.kill(0)
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    # Clients of the dead process reconnect to the other, resync, and retry the sends
    # whose ack they did not get (same client_id); Maria does not come back.
    for chat in (dana_phone, priya_phone, kelly_console):
        await chat.reconnect([b])
    for name in ("dana", "kelly", "priya"):
        await senders[name].retry_until_acked(timeout=10)
    for name, chat in (("dana", dana_phone), ("kelly", kelly_console)):
        assert await stored_by(kelly_thread.pk, _user_id(chat.hello)) == set(senders[name].outcomes)
    assert await stored_by(maria_thread.pk, priya.pk) == set(senders["priya"].outcomes)
    maria_acked = {c for c, o in senders["maria"].outcomes.items() if o[-1] == "ack"}
    maria_stored = await stored_by(maria_thread.pk, maria.pk)
    assert maria_acked <= maria_stored <= set(senders["maria"].outcomes)

    # The dead process's sockets are swept once it misses its heartbeats; Kelly, back
    # on the other process, keeps her thread; Maria's goes back to the queue after
    # her grace period and on to Sam, who is available.
    await eventually(lambda: _equals(worker_count(), 1), timeout=15, what="the dead worker swept")
    assert await coach_sockets(kelly.pk) == 1
    assert await coach_sockets(maria.pk) == 0
    assert await thread_state(kelly_thread.pk) == ("active", kelly.pk)
    await eventually(
        lambda: _equals(thread_state(maria_thread.pk), ("active", sam.pk)),
        timeout=15,
        what="Maria's thread requeued and given to Sam",
    )
    await priya_laptop.wait_for(
        lambda f: f["type"] == "thread" and (f["thread"]["coach"] or {}).get("id") == sam.pk,
        5,
        "Priya told of her new coach",
    )
    reply = await sam_console.send_message(maria_thread.pk, "sam-1", "Hi Priya, Sam here")
    assert reply["type"] == "message.ack"

    await assert_transcripts_agree(kelly_thread.pk, [dana_phone, kelly_console])
    await assert_transcripts_agree(maria_thread.pk, [priya_phone, priya_laptop, sam_console])
    for chat in (dana_phone, priya_phone, priya_laptop, kelly_console, sam_console):
        await chat.close()


def _user_id(hello: dict) -> int:
    return hello["user"]["id"]


async def _equals(value, expected) -> bool:
    return await value == expected


# --- A client that stops reading ---------------------------------------------------------------


@e2e
async def test_a_client_that_stops_reading_is_closed_and_costs_the_others_nothing(daphne_factory):
    server = daphne_factory(CHAT_RATE_PER_10S="100000")
    pid = server.processes[0].pid
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    bystander, her_coach = await amake_member(), await amake_coach()
    other_thread = await amake_thread(bystander, coach=her_coach)
    cookie = await asyncio.to_thread(login, server.url, member.username, PASSWORD)
    # She completes the handshake, then never reads; she keeps sending, so daphne's
    # pings (sent only to a silent client) would never find her out.
    stalled = RawWebSocket(server.url, cookie)
    console = await client(coach, server.url)
    phone, her_console = await client(bystander, server.url), await client(her_coach, server.url)
    baseline = rss_bytes(pid)

    body = "I leak a little when I run " * 140  # ~3.8 KB: message.new carries it twice
    pushed = 0
    latencies = []
    closed = False
    for n in range(2000):  # up to ~16 MB toward her socket
        started = time.monotonic()
        await console.send_message(thread.pk, f"c{n}", body)
        ack = await phone.send_message(other_thread.pk, f"p{n}", "still here?")
        latencies.append(time.monotonic() - started)
        assert ack["type"] == "message.ack"
        pushed += 2 * len(body)
        try:
            stalled.send_frame({"type": "typing", "thread": thread.pk, "state": True})
        except OSError:
            closed = True
            break
        await asyncio.sleep(0)
    growth = rss_bytes(pid) - baseline
    stalled.close()
    assert closed, f"her socket was still open after {pushed >> 20} MiB were sent to it"
    assert pushed < 8 << 20, f"closed only after {pushed >> 20} MiB"
    assert growth < 16 << 20, f"the server grew by {growth >> 20} MiB"
    # Everyone else was served as usual, and still is.
    assert max(latencies) < 1.0, max(latencies)
    ack = await her_console.send_message(other_thread.pk, "coach-after", "yes, I am here")
    assert ack["type"] == "message.ack"
    for chat in (console, phone, her_console):
        assert chat.open
        await chat.close()


# --- A client floods ----------------------------------------------------------------------------


async def run_flooder(url: str, cookie: str, thread_id: int, seconds: float, sockets: int):
    """tests/support/flooder.py in a process of its own; what it counted."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.flooder",
        url,
        cookie,
        str(thread_id),
        str(seconds),
        str(sockets),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await asyncio.wait_for(process.communicate(), seconds + 25)
    return json.loads(output)


@e2e
async def test_a_client_sending_faster_than_it_is_served_is_read_no_faster(daphne_factory):
    """No rate limit to stop her here: daphne read everything she sent into the
    consumer's queue (~300 MB in 3 s); now a socket is read from only while a few of
    its frames wait to be handled."""
    server = daphne_factory(CHAT_RATE_PER_10S="1000000")
    pid = server.processes[0].pid
    flooder = await amake_member()
    flooders_thread = await amake_thread(flooder)
    cookie = await asyncio.to_thread(login, server.url, flooder.username, PASSWORD)
    baseline = rss_bytes(pid)
    flooding = asyncio.create_task(run_flooder(server.url, cookie, flooders_thread.pk, 3, 1))
    peak = 0
    while not flooding.done():
        peak = max(peak, rss_bytes(pid) - baseline)
        await asyncio.sleep(0.05)
    counts = flooding.result()
    assert counts["frames"] > 500, counts
    assert peak < 40 << 20, f"the server grew by {peak >> 20} MiB"


@e2e
async def test_a_client_over_her_rate_is_served_again_when_she_retries(daphne_factory):
    """A phone sending a burst (what she wrote offline, say) is told to retry the excess,
    is not read from meanwhile, and is read again when the wait is over: every message
    stored once and delivered in seq order."""
    server = daphne_factory()  # 30 frames in 10 s
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    phone, console = await client(member, server.url), await client(coach, server.url)

    async def send_until_acked(n: int) -> tuple[dict, int]:
        # As the portal's outbox does: each refused message on its own timer.
        reply = await phone.send_message(thread.pk, f"b{n}", f"note {n}", timeout=5)
        refusals = 0
        while reply.get("code") == "rate_limited":
            refusals += 1
            assert reply["retry_after"] > 0, reply
            await asyncio.sleep(reply["retry_after"])
            reply = await phone.send_message(thread.pk, f"b{n}", f"note {n}", timeout=5)
        return reply, refusals

    sent = await asyncio.gather(*(send_until_acked(n) for n in range(45)))
    assert all(reply["type"] == "message.ack" for reply, _ in sent), sent
    # Those over the bucket (15, less what refilled during the burst) were refused once
    # each and served at their retry_after, not refused again into a flood, which
    # closes the socket with 4429.
    refused = [refusals for _, refusals in sent if refusals]
    assert len(refused) >= 10 and set(refused) == {1}, refused

    await console.wait_for(
        lambda f: f["type"] == "message.new" and f["message"]["seq"] == 45, 10, "the 45th"
    )
    held = console.held[thread.pk]
    assert sorted(held) == list(range(1, 46))
    assert {message["client_id"] for message in held.values()} == {f"b{n}" for n in range(45)}


@e2e
async def test_a_flooding_client_does_not_slow_the_others(daphne_factory):
    server = daphne_factory()  # the default limits: 30 frames in 10 s, 10 sockets a user
    flooder = await amake_member()
    flooders_thread = await amake_thread(flooder)
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    cookie = await asyncio.to_thread(login, server.url, flooder.username, PASSWORD)
    phone, console = await client(member, server.url), await client(coach, server.url)
    sent = 0

    async def round_trips(seconds: float) -> list[float]:
        """Her message to her coach, every 0.2 s (under her own rate limit): send to
        delivery on his socket, sorted."""
        nonlocal sent
        until, times = time.monotonic() + seconds, []
        while time.monotonic() < until:
            started, n = time.monotonic(), sent
            sent += 1
            reply = await phone.send_message(thread.pk, f"m{n}", "are you there?")
            assert reply["type"] == "message.ack"
            await console.wait_for(
                lambda f, n=n: f["type"] == "message.new" and f["message"]["client_id"] == f"m{n}",
                5,
                "delivery",
            )
            times.append(time.monotonic() - started)
            await asyncio.sleep(0.2)
        return sorted(times)

    # The baseline, on the same server and machine a moment before: the machine's
    # speed is not the question, the flood's effect on it is.
    calm = await round_trips(3)
    baseline = rss_bytes(server.processes[0].pid)
    flooding = asyncio.create_task(
        run_flooder(server.url, cookie, flooders_thread.pk, 5, 12)  # 12: over her cap of 10
    )
    flooded = await round_trips(5)
    growth = rss_bytes(server.processes[0].pid) - baseline
    counts = await flooding
    assert counts.get("closed 4429"), counts  # she was closed for flooding, again and again
    assert counts["frames"] > 1000, counts
    # daphne queued whatever she sent for her sockets, without limit: 400 MB in these
    # 5 s, and everyone else waited ~200 ms a message (4-10x the calm median). Now her
    # sockets are not read from beyond their rate: ~30-100 MB (the reconnects), and the
    # others' median stays within the same tens of milliseconds as without her.
    assert growth < 200 << 20, f"the server grew by {growth >> 20} MiB"
    calm_median, flooded_median = calm[len(calm) // 2], flooded[len(flooded) // 2]
    assert flooded_median < max(2.5 * calm_median, calm_median + 0.03), (calm, flooded)
    # The tail does feel her: of ~24 round trips, the worst few took 30-125 ms here
    # (calm: 5-10 ms after the first), with her reconnects, the measuring client and
    # the server on two cores. Bounded, not hidden (docs/reliability.md).
    assert flooded[-1] < 0.25, (calm, flooded)
    await phone.close()
    await console.close()


# --- Thousands of sockets open and close -------------------------------------------------------


def layer_residue(redis_server: RedisServer, prefix: str) -> tuple[int, int]:
    """(keys, pub/sub channels) the channel layer holds in Redis under its prefix."""
    redis = redis_server.client()
    keys = sum(1 for _ in redis.scan_iter(match=f"{prefix}*", count=1000))
    return keys, len(redis.pubsub_channels(f"{prefix}*"))


@database_sync_to_async
def coach_socket_rows() -> int:
    return CoachSocket.objects.count()


async def churn(url: str, cookies: list[str], per_user: int) -> None:
    """Every user opens `per_user` sockets at once, waits for hello on each, and closes
    them: one in four by dropping the TCP connection without a close handshake."""

    async def one(cookie: str, n: int) -> None:
        connection = await websockets.connect(
            url.replace("http://", "ws://") + "/ws/chat/",
            origin=url,
            additional_headers={"Cookie": f"sessionid={cookie}"},
            open_timeout=20,
        )
        hello = json.loads(await asyncio.wait_for(connection.recv(), 20))
        assert hello["type"] == "hello", hello
        if n % 4 == 0:
            connection.transport.abort()
        await connection.close()

    await asyncio.gather(*(one(c, n) for c in cookies for n in range(per_user)))


def sockets_open(url: str) -> float:
    """chat_sockets_open, summed over roles, from the process's /metrics."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("chat_sockets_open{")
    )


@e2e
@pytest.mark.parametrize("layer", ["pubsub", "core"])
async def test_sockets_opening_and_closing_by_the_thousand_leave_nothing_behind(
    daphne_factory, private_redis, layer
):
    if layer == "core" and not is_postgres():
        pytest.skip("the core layer's run is in the PostgreSQL + Redis pass (time)")
    prefix = "churn" + layer
    server = daphne_factory(
        REDIS_URL=private_redis.url, CHANNEL_LAYER=layer, CHAT_LAYER_PREFIX=prefix
    )
    pid = server.processes[0].pid
    users = [await amake_member() for _ in range(12)] + [await amake_coach() for _ in range(6)]
    cookies = [
        await asyncio.to_thread(login, server.url, user.username, PASSWORD) for user in users
    ]
    per_user = 8  # under CHAT_MAX_SOCKETS_PER_USER (10)
    # Warm-up: imports, caches, pools, and the allocator's arenas reach their size.
    for _ in range(3):
        await churn(server.url, cookies, per_user)
    await eventually(lambda: _equals(coach_socket_rows(), 0), timeout=10, what="rows gone")
    residue = layer_residue(private_redis, prefix)
    baseline = rss_bytes(pid)
    rounds = 5
    for _ in range(rounds):
        await churn(server.url, cookies, per_user)
    opened = (rounds + 3) * per_user * len(users)

    await eventually(lambda: _equals(coach_socket_rows(), 0), timeout=10, what="rows gone")
    await eventually(
        lambda: layer_residue(private_redis, prefix) == residue,
        timeout=10,
        what=f"layer keys and channels back to {residue}",
    )
    assert sockets_open(server.url) == 0
    growth = rss_bytes(pid) - baseline
    # The allocator's own steps reach ~6 MiB here; a consumer left behind (~30 KB with
    # its scope, session and queues) per socket would be 16 MiB and more.
    assert growth < 12 << 20, f"{growth >> 20} MiB more after {opened} sockets"
    # Every user may still open her full share of sockets: none was left counted.
    await churn(server.url, cookies[:1], 10)


# --- The same promises, in-process (fast, on the in-memory layer) -------------------------------


async def test_sockets_churning_in_process_leave_no_group_channel_or_count():
    from chat.consumers import _open_sockets

    users = [await amake_member() for _ in range(4)] + [await amake_coach() for _ in range(2)]
    users.append(await amake_supervisor())
    layer = get_channel_layer()
    for _ in range(8):
        sockets = [await connect(user) for user in users for _ in range(3)]
        assert all(socket.hello for socket in sockets)
        for socket in sockets:
            await socket.close()
    # Only the process's queue feed (for coaches and supervisors) stays in a group (the
    # Pub/Sub layer, in the Redis pass, names its groups "<prefix>__group__<name>").
    groups = {name.rsplit("__group__", 1)[-1]: len(m) for name, m in layer.groups.items()}
    assert groups == {"queue": 1}
    assert len(layer.channels) <= 1  # the feed's channel, while it waits
    assert not {user.pk for user in users} & set(_open_sockets)
    assert not feed.subscribers
    assert await coach_socket_rows() == 0
    # No consumer outlives its socket (a reference kept anywhere would hold its scope,
    # session and queues): RSS is too coarse to see a few hundred of them.
    gc.collect()
    assert not [obj for obj in gc.get_objects() if isinstance(obj, ChatConsumer)]


async def test_a_layer_failing_as_sockets_close_still_forgets_them(monkeypatch):
    from chat.consumers import _open_sockets

    member, coach = await amake_member(), await amake_coach()
    phone, console = await connect(member), await connect(coach)
    layer = get_channel_layer()

    async def down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(layer, "group_discard", down)
    await phone.close()
    await console.close()
    assert not {member.pk, coach.pk} & set(_open_sockets)  # else her cap would shrink for good
    assert await coach_socket_rows() == 0  # else she would stay "connected" for good
    assert await disconnected_at(coach.pk) is not None  # her grace period started


async def test_a_layer_down_at_connect_closes_the_socket_with_try_again_later(monkeypatch):
    member = await amake_member()
    layer = get_channel_layer()

    async def down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(layer, "new_channel", down)
    socket = await connect(member)
    assert socket.accepted
    assert socket.close_code == CLOSE_TRY_AGAIN_LATER == 4503
    monkeypatch.undo()
    again = await connect(member)
    assert again.hello is not None
    await again.close()


async def test_a_consumer_that_fails_still_forgets_its_socket():
    from chat.consumers import _open_sockets
    from chat.events import user_group

    coach = await amake_coach()
    console = await connect(coach)
    # An event no handler can take (a bug elsewhere) ends the consumer with a traceback.
    await get_channel_layer().group_send(user_group(coach.pk), {"type": "chat.frame"})
    with pytest.raises(KeyError):
        await console.communicator.wait(timeout=3)
    assert coach.pk not in _open_sockets
    assert await coach_sockets(coach.pk) == 0
    assert await disconnected_at(coach.pk) is not None
