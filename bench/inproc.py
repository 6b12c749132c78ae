"""In-process measurements, run as their own process against a bench database:

    DATABASE_URL=postgres://… python -m bench.inproc history --depths 100,10000 --rounds 200
    DATABASE_URL=postgres://… python -m bench.inproc assignment --threads 1000 --coaches 200
    DATABASE_URL=postgres://… python -m bench.inproc message-path --messages 300
    DATABASE_URL=postgres://… python -m bench.inproc invariants

Each prints one JSON object on stdout. The rows are inserted in bulk (no sockets, no
actions), then the code under test is timed directly: the history selector
`chat.selectors.messages_before` and one assignment decision
`routing.actions.assignment.assign_waiting(max_decisions=1)`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import time
from collections import Counter
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("CHAT_BACKGROUND_WORK", "0")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.roles import load_actor  # noqa: E402
from chat.actions.messages import message_send  # noqa: E402
from chat.events import collecting  # noqa: E402
from chat.models import Message, Thread, ThreadStatus, ThreadTag  # noqa: E402
from chat.selectors import messages_before  # noqa: E402
from coaches.models import CoachProfile, CoachStatus  # noqa: E402
from routing.actions.assignment import assign_waiting  # noqa: E402
from routing.models import Assignment, CoachSocket, Priority, Tag, Worker  # noqa: E402

PAGE = 50
INSERT_BATCH = 5000


def timings_ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def rank(p: float) -> float:
        index = max(1, min(len(ordered), int(-(-p * len(ordered) // 100)))) - 1
        return round(ordered[index] * 1000, 3)

    return {"n": len(ordered), "p50_ms": rank(50), "p99_ms": rank(99), "max_ms": rank(100)}


def history_positions(depth: int) -> dict[str, int | None]:
    """Where pages are read: the newest (no before_seq), the middle, the oldest."""
    return {"newest": None, "middle": depth // 2 + PAGE // 2, "oldest": PAGE + 1}


def history(depths: list[int], rounds: int) -> dict[str, Any]:
    """One active thread per depth (member<k>/coach<k>), filled in bulk; then time pages."""
    User = get_user_model()
    now = timezone.now()
    result: dict[str, Any] = {}
    for k, depth in enumerate(depths, start=1):
        member = User.objects.get(username=f"member{k}")
        coach = User.objects.get(username=f"coach{k}")
        thread = Thread.objects.create(
            member=member,
            coach=coach,
            status=ThreadStatus.ACTIVE,
            enqueued_at=now,
            assigned_at=now,
            last_seq=depth,
        )
        started = time.perf_counter()
        for first in range(1, depth + 1, INSERT_BATCH):
            Message.objects.bulk_create(
                Message(
                    thread=thread,
                    seq=seq,
                    sender=member if seq % 2 else coach,
                    client_id=f"h{seq}",
                    text=f"history message {seq}",
                    body=f"history message {seq}",
                    created_at=now - datetime.timedelta(seconds=depth - seq),
                )
                for seq in range(first, min(first + INSERT_BATCH, depth + 1))
            )
        insert_seconds = time.perf_counter() - started
        result[str(depth)] = {
            "thread": thread.pk,
            "member": member.username,
            "insert_s": round(insert_seconds, 2),
        }
    if connection.vendor == "postgresql":
        # Statistics as autovacuum would leave them on a table that grew over months.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE chat_message")
    for depth_key, entry in result.items():
        selector = {}
        for position, before_seq in history_positions(int(depth_key)).items():
            messages_before(entry["thread"], before_seq=before_seq, limit=PAGE)  # warm
            samples = []
            for _ in range(rounds):
                started = time.perf_counter()
                rows, _ = messages_before(entry["thread"], before_seq=before_seq, limit=PAGE)
                samples.append(time.perf_counter() - started)
            assert len(rows) == min(PAGE, int(depth_key))
            selector[position] = timings_ms(samples)
        entry["selector"] = selector
        entry["positions"] = history_positions(int(depth_key))
    return result


def assignment(threads: int, coaches: int, capacity: int, seed: int = 7) -> dict[str, Any]:
    """`threads` queued threads (tags, priorities, waits spread) and `coaches` online,
    connected coaches of `capacity`; time each decision until the queue or the slots
    run out."""
    rng = random.Random(seed)
    User = get_user_model()
    now = timezone.now()
    tags = list(Tag.objects.filter(is_red_flag=False))
    coach_ids = list(
        User.objects.filter(username__in=[f"coach{i}" for i in range(1, coaches + 1)]).values_list(
            "pk", flat=True
        )
    )
    member_ids = list(
        User.objects.filter(username__in=[f"member{i}" for i in range(1, threads + 1)]).values_list(
            "pk", flat=True
        )
    )
    if len(coach_ids) < coaches or len(member_ids) < threads:
        raise SystemExit(f"seed at least {threads} members and {coaches} coaches")
    CoachProfile.objects.filter(user_id__in=coach_ids).update(
        status=CoachStatus.ONLINE, capacity=capacity
    )
    worker = Worker.objects.create(id="bench-inproc", host="bench", pid=os.getpid())
    CoachSocket.objects.bulk_create(
        CoachSocket(channel_name=f"bench.{coach_id}", coach_id=coach_id, worker=worker)
        for coach_id in coach_ids
    )
    priorities = [Priority.URGENT] * 5 + [Priority.HIGH] * 25 + [Priority.NORMAL] * 70
    queued = Thread.objects.bulk_create(
        Thread(
            member_id=member_id,
            status=ThreadStatus.QUEUED,
            priority=rng.choice(priorities),
            enqueued_at=now - datetime.timedelta(seconds=threads - i),
            queued_since=now - datetime.timedelta(seconds=threads - i),
        )
        for i, member_id in enumerate(member_ids)
    )
    ThreadTag.objects.bulk_create(
        ThreadTag(thread=thread, tag=tag, source="rule")
        for thread in queued
        for tag in rng.sample(tags, rng.randint(1, 2))
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    samples = []
    # Events are collected, as inside a socket's database hop, not published.
    with collecting():
        # One decision first, untimed, with its statements listed: what a decision costs.
        with CaptureQueriesContext(connection) as captured:
            assign_waiting(max_decisions=1)
        statements = [
            {"ms": round(1000 * float(query["time"]), 2), "sql": query["sql"][:160]}
            for query in captured.captured_queries
        ]
        while True:
            started = time.perf_counter()
            made = assign_waiting(max_decisions=1)
            elapsed = time.perf_counter() - started
            if not made:
                break
            samples.append(elapsed)
    head = samples[: max(1, threads // 5)]
    return {
        "threads": threads,
        "coaches": coaches,
        "capacity": capacity,
        "decisions": len(samples) + 1,
        "queries_per_decision": len(statements),
        "first_decision_statements": statements,
        "all": timings_ms(samples),
        # The first fifth: the queue still holds ≥ 80 % of its threads.
        "first_fifth": timings_ms(head),
        "left_queued": Thread.objects.filter(status=ThreadStatus.QUEUED).count(),
        "invariants": invariants(),
    }


def message_path(messages: int) -> dict[str, Any]:
    """The database hop of `message.send` alone (no socket, no layer): time and queries
    per message, a member writing into her active thread."""
    User = get_user_model()
    member = User.objects.get(username="member1")
    coach = User.objects.get(username="coach1")
    now = timezone.now()
    thread = Thread.objects.create(
        member=member, coach=coach, status=ThreadStatus.ACTIVE, enqueued_at=now, assigned_at=now
    )
    actor = load_actor(member.pk)
    samples, queries, statements = [], 0, Counter()
    with collecting() as events:
        for n in range(messages + 1):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                message_send(
                    actor=actor, thread_id=thread.pk, client_id=f"p{n}", text=f"bench message {n}"
                )
                elapsed = time.perf_counter() - started
            if n:  # the first one warms caches up
                samples.append(elapsed)
                queries += len(captured.captured_queries)
                for query in captured.captured_queries:
                    statements[query["sql"].split()[0].upper()] += 1
    return {
        "messages": messages,
        "per_message": timings_ms(samples),
        "queries_per_message": round(queries / messages, 1),
        "statements_per_message": {k: round(v / messages, 1) for k, v in statements.items()},
        "events_per_message": round(len(events) / (messages + 1), 1),
    }


def invariants() -> dict[str, int]:
    """The DESIGN's assignment invariants, counted (every number should be 0)."""
    over = 0
    for profile in CoachProfile.objects.all():
        active = Thread.objects.filter(coach_id=profile.user_id, status=ThreadStatus.ACTIVE)
        load = sum(2 if t.priority == Priority.URGENT else 1 for t in active)
        # An urgent thread may take a coach one over capacity (DESIGN, routing policy).
        if load > profile.capacity + 1:
            over += 1
    auto = list(Assignment.objects.filter(reason="auto").values_list("thread_id", flat=True))
    return {
        "coaches_over_capacity": over,
        "threads_auto_assigned_twice": len(auto) - len(set(auto)),
        "active_without_coach": Thread.objects.filter(
            status=ThreadStatus.ACTIVE, coach__isnull=True
        ).count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="in-process benchmark steps")
    commands = parser.add_subparsers(dest="command", required=True)
    h = commands.add_parser("history")
    h.add_argument("--depths", default="100,10000,100000")
    h.add_argument("--rounds", type=int, default=200)
    a = commands.add_parser("assignment")
    a.add_argument("--threads", type=int, default=1000)
    a.add_argument("--coaches", type=int, default=200)
    a.add_argument("--capacity", type=int, default=5)
    m = commands.add_parser("message-path")
    m.add_argument("--messages", type=int, default=300)
    commands.add_parser("invariants")
    arguments = parser.parse_args()
    if arguments.command == "history":
        depths = [int(d) for d in arguments.depths.split(",")]
        result = history(depths, arguments.rounds)
    elif arguments.command == "message-path":
        result = message_path(arguments.messages)
    elif arguments.command == "assignment":
        result = assignment(arguments.threads, arguments.coaches, arguments.capacity)
    else:
        result = invariants()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
