"""Two daphne processes sharing the database and Redis, as a scaled deployment runs."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from chat.models import Message, Thread, ThreadStatus
from coaches.models import CoachProfile
from routing import selectors
from routing.models import Assignment
from tests.support.factories import PASSWORD, amake_coach, amake_member, amake_thread
from tests.support.live_client import LiveSocket, login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def open_socket(base_url: str, user) -> LiveSocket:
    cookie = await asyncio.to_thread(login, base_url, user.username, PASSWORD)
    socket = await LiveSocket.connect(base_url, cookie)
    await socket.expect("hello")
    return socket


@pytest.fixture
def two_processes(daphne_factory, redis_url):
    # Bursts here are the point of the test, not floods.
    return daphne_factory(processes=2, REDIS_URL=redis_url, CHAT_RATE_PER_10S="1000")


async def test_a_member_on_one_process_and_her_coach_on_the_other_lose_nothing(two_processes):
    a, b = two_processes.urls
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    phone, console = await open_socket(a, member), await open_socket(b, coach)

    async def send_all(socket, prefix, count):
        for n in range(count):
            await socket.send(
                {
                    "type": "message.send",
                    "thread": thread.pk,
                    "client_id": f"{prefix}{n}",
                    "body": f"{prefix} {n}",
                }
            )

    await asyncio.gather(send_all(phone, "m", 40), send_all(console, "c", 40))

    async def collect(socket, want):
        seen: dict[int, str] = {}
        while len(seen) < want:
            frame = await socket.expect("message.new", timeout=15)
            seen[frame["message"]["seq"]] = frame["message"]["client_id"]
        return seen

    at_member, at_coach = await asyncio.gather(collect(phone, 80), collect(console, 80))
    assert sorted(at_member) == sorted(at_coach) == list(range(1, 81))
    assert at_member == at_coach
    stored = await database_sync_to_async(
        lambda: list(
            Message.objects.filter(thread=thread).order_by("seq").values_list("seq", flat=True)
        )
    )()
    assert stored == list(range(1, 81))
    await phone.close()
    await console.close()


async def test_concurrent_senders_on_both_processes_get_seqs_one_to_n(two_processes):
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    sockets = []
    for url in two_processes.urls:
        sockets += [await open_socket(url, member), await open_socket(url, coach)]

    async def burst(index, socket):
        seqs = []
        for n in range(15):
            ref = f"{index}-{n}"
            await socket.send(
                {
                    "type": "message.send",
                    "ref": ref,
                    "thread": thread.pk,
                    "client_id": ref,
                    "body": ref,
                }
            )
            seqs.append((await socket.expect("message.ack", ref=ref, timeout=15))["seq"])
        return seqs

    results = await asyncio.gather(*(burst(i, s) for i, s in enumerate(sockets)))
    assert sorted(seq for seqs in results for seq in seqs) == list(range(1, 61))
    for socket in sockets:
        await socket.close()


async def test_many_threads_at_once_are_each_assigned_once_within_capacity(two_processes):
    urls = two_processes.urls
    coaches = [await amake_coach(capacity=2) for _ in range(4)]
    consoles = []
    for index, coach in enumerate(coaches):
        console = await open_socket(urls[index % 2], coach)
        await console.send({"type": "presence.set", "status": "online", "ref": "p"})
        await console.expect("presence", ref="p")
        consoles.append(console)
    members = [await amake_member() for _ in range(14)]
    phones = [await open_socket(urls[i % 2], m) for i, m in enumerate(members)]

    async def first_message(phone, index):
        await phone.send({"type": "thread.open", "ref": "o"})
        thread = (await phone.expect("thread", ref="o"))["thread"]
        await phone.send(
            {
                "type": "message.send",
                "ref": "m",
                "thread": thread["id"],
                "client_id": "1",
                "body": f"question {index}",
            }
        )
        await phone.expect("message.ack", ref="m", timeout=15)

    await asyncio.gather(*(first_message(p, i) for i, p in enumerate(phones)))

    @database_sync_to_async
    def settled():
        active = Thread.objects.filter(status=ThreadStatus.ACTIVE).count()
        queued = Thread.objects.filter(status=ThreadStatus.QUEUED).count()
        return active, queued

    for _ in range(50):
        active, queued = await settled()
        if active == 8:
            break
        await asyncio.sleep(0.2)
    assert (active, queued) == (8, 6)  # four coaches × capacity 2; the rest wait

    @database_sync_to_async
    def check():
        loads = {c.user_id: c.load for c in selectors.coaches_with_load()}
        capacities = dict(CoachProfile.objects.values_list("user_id", "capacity"))
        for coach_id, load in loads.items():
            assert load <= capacities[coach_id]
        # One assignment per thread: no thread was given to two coaches.
        assigned = list(
            Assignment.objects.filter(reason="auto").values_list("thread_id", flat=True)
        )
        assert len(assigned) == len(set(assigned)) == 8
        queued = list(selectors.queued_threads())
        assert [selectors.queue_rank(t) for t in queued] == list(range(1, 7))

    await check()
    for socket in consoles + phones:
        await socket.close()
