"""Property test: random sequences of what members, coaches and supervisors do, with the
routing invariants checked after every step.

- a thread has at most one coach; active ⇔ has a coach; queued ⇒ no coach;
- no coach is given a thread while her load is at or over capacity (checked at the
  moment of every assignment the queue, a claim or a coach's transfer makes; only a
  supervisor may place a thread over capacity);
- work-conserving: never a queued thread and an available coach (online, connected,
  under capacity, not the one who passed it back) left unmatched;
- an offline coach holds no thread;
- queued threads' positions are their ranks 1..n;
- no thread is lost: a thread a member has written in is queued, active or resolved.

Every step goes through the action a socket frame or the ticker calls, and nothing here
runs an assignment sweep of its own: the state checked is what people would see right
after the step, before the periodic sweep (every few seconds) could mend it. Each step
also checks its own outcome: refused with conflict exactly when the policy says so.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from accounts.roles import Actor, load_actor
from chat.actions.messages import message_send
from chat.actions.sockets import socket_close, socket_open
from chat.actions.threads import thread_open
from chat.errors import ChatError, ErrorCode
from chat.models import Message, Thread, ThreadStatus
from coaches.models import CoachProfile, CoachStatus
from routing import selectors
from routing.actions import assignment, presence, resolve, transfer
from routing.models import AssignmentReason, CoachSocket, Priority
from tests.support.factories import make_coach, make_member, make_supervisor

pytestmark = pytest.mark.django_db

TEXTS = [
    "I leak when I run",
    "how do I relax my pelvic floor",
    "heaviness and dragging in the evening",
    "my c-section scar pulls",
    "I'm soaking a pad every hour and passing big clots",
    "feeling so low and anxious",
    "thanks!",
]
# Small capacities and more members than free slots, so that coaches are often full
# while threads wait: the states where a missed assignment or a capacity check shows.
CAPACITIES = (1, 1, 2)
SPECIALTIES = (("leaking",), ("prolapse",), ())
MEMBERS = 6
PICK = st.integers(0, 7)


class Routing(RuleBasedStateMachine):
    """Six members, three coaches (capacities 1, 1, 2), one supervisor."""

    def __init__(self) -> None:
        super().__init__()
        self.savepoint = transaction.savepoint()
        self.numbers = itertools.count(1)
        self.violations: list[str] = []

    def teardown(self) -> None:
        transaction.savepoint_rollback(self.savepoint)

    @initialize(writers=st.integers(0, MEMBERS))
    def people(self, writers: int) -> None:
        """The coaches start at work (online, connected); some members have written."""
        self.members = [load_actor(make_member().pk) for _ in range(MEMBERS)]
        self.coaches = [
            load_actor(make_coach(capacity=capacity, specialties=specialties).pk)
            for capacity, specialties in zip(CAPACITIES, SPECIALTIES, strict=True)
        ]
        self.supervisor = load_actor(make_supervisor().pk)
        for coach in self.coaches:
            socket_open(user_id=coach.id, channel_name=f"test.{next(self.numbers)}")
            presence.presence_set(actor=coach, status=CoachStatus.ONLINE)
        for member in range(writers):
            self.member_writes(member, TEXTS[member])

    # --- helpers ------------------------------------------------------------------------

    def _any(self, *statuses: ThreadStatus) -> bool:
        return Thread.objects.filter(status__in=statuses).exists()

    def _pick(self, pick: int, *statuses: ThreadStatus) -> Thread:
        """One of the threads in `statuses` (the rule's precondition: there is one)."""
        threads = list(Thread.objects.filter(status__in=statuses).order_by("pk"))
        return threads[pick % len(threads)]

    def _stranded(self) -> list[int]:
        """Coaches who hold active threads and have no socket."""
        return sorted(
            set(
                Thread.objects.filter(status=ThreadStatus.ACTIVE)
                .exclude(coach_id__in=CoachSocket.objects.values("coach_id"))
                .values_list("coach_id", flat=True)
            )
        )

    def _coach(self, coach_id: int) -> Actor:
        return next(coach for coach in self.coaches if coach.id == coach_id)

    def _member(self, member_id: int) -> Actor:
        return next(member for member in self.members if member.id == member_id)

    def _reopenable(self) -> list[Thread]:
        """Resolved threads that are their member's latest."""
        latest = {thread.member_id: thread for thread in Thread.objects.order_by("pk")}
        return [thread for thread in latest.values() if thread.status == ThreadStatus.RESOLVED]

    def _room(self, coach_id: int) -> int:
        return CoachProfile.objects.get(user_id=coach_id).capacity - load_of(coach_id)

    def _full(self, coach_id: int) -> bool:
        return self._room(coach_id) <= 0

    def _offline(self, coach_id: int) -> bool:
        return CoachProfile.objects.get(user_id=coach_id).status == CoachStatus.OFFLINE

    def _expect(self, refused: bool, action: Callable[..., Any], **arguments: Any) -> None:
        """Run `action`; it must be refused with conflict exactly when `refused`."""
        if not refused:
            action(**arguments)
            return
        with pytest.raises(ChatError) as refusal:
            action(**arguments)
        assert refusal.value.code == ErrorCode.CONFLICT, refusal.value.message

    # --- what people do ---------------------------------------------------------------

    @rule(member=st.integers(0, MEMBERS - 1), text=st.sampled_from(TEXTS))
    def member_writes(self, member: int, text: str) -> None:
        actor = self.members[member]
        thread = thread_open(actor=actor)
        message_send(
            actor=actor, thread_id=thread["id"], client_id=f"c{next(self.numbers)}", text=text
        )

    @precondition(lambda self: self._reopenable())
    @rule(pick=PICK)
    def member_reopens(self, pick: int) -> None:
        """She writes again in her latest thread, which was resolved."""
        reopenable = self._reopenable()
        thread = reopenable[pick % len(reopenable)]
        message_send(
            actor=self._member(thread.member_id),
            thread_id=thread.pk,
            client_id=f"c{next(self.numbers)}",
            text="me again",
        )

    @rule(
        coach=st.integers(0, 2),
        change=st.sampled_from([*CoachStatus.values, "connects", "disconnects"]),
    )
    def coach_comes_and_goes(self, coach: int, change: str) -> None:
        """She chooses a status, or opens a socket, or closes one (of those she has)."""
        actor = self.coaches[coach]
        if change == "connects":
            socket_open(user_id=actor.id, channel_name=f"test.{next(self.numbers)}")
        elif change == "disconnects":
            socket = CoachSocket.objects.filter(coach_id=actor.id).first()
            if socket is not None:
                socket_close(actor=actor, channel_name=socket.channel_name)
        else:
            presence.presence_set(actor=actor, status=change)

    @precondition(lambda self: self._any(ThreadStatus.ACTIVE))
    @rule(pick=PICK, status=st.sampled_from([CoachStatus.AWAY, CoachStatus.OFFLINE]))
    def coach_with_threads_steps_away(self, pick: int, status: str) -> None:
        """Away, she keeps her threads; offline, they go back to the queue."""
        thread = self._pick(pick, ThreadStatus.ACTIVE)
        presence.presence_set(actor=self._coach(thread.coach_id), status=status)

    @precondition(lambda self: self._stranded())
    @rule(coach=PICK)
    def grace_runs_out(self, coach: int) -> None:
        """The grace period of a disconnected coach who still holds threads runs out."""
        stranded = self._stranded()
        long_ago = timezone.now() - datetime.timedelta(
            seconds=settings.CHAT_COACH_GRACE_SECONDS + 1
        )
        CoachProfile.objects.filter(user_id=stranded[coach % len(stranded)]).update(
            disconnected_at=long_ago
        )
        presence.grace_expire()

    @precondition(lambda self: self._any(ThreadStatus.QUEUED))
    @rule(coach=st.integers(0, 2), pick=PICK)
    def coach_claims(self, coach: int, pick: int) -> None:
        """Refused when she is offline or full (away still claims)."""
        actor = self.coaches[coach]
        self._expect(
            self._offline(actor.id) or self._full(actor.id),
            assignment.queue_claim,
            actor=actor,
            thread_id=self._pick(pick, ThreadStatus.QUEUED).pk,
        )

    @precondition(lambda self: self._any(ThreadStatus.ACTIVE))
    @rule(pick=PICK, busier=st.booleans())
    def coach_transfers_to_coach(self, pick: int, busier: bool) -> None:
        """To the busiest or the least busy of the other coaches (by room left); refused
        when that coach is offline or full."""
        thread = self._pick(pick, ThreadStatus.ACTIVE)
        others = sorted(
            (coach for coach in self.coaches if coach.id != thread.coach_id),
            key=lambda coach: self._room(coach.id),
        )
        target = others[0] if busier else others[-1]
        self._expect(
            self._offline(target.id) or self._full(target.id),
            transfer.thread_transfer,
            actor=self._coach(thread.coach_id),
            thread_id=thread.pk,
            to_coach=target.id,
            note="over to you",
        )

    @precondition(lambda self: self._any(ThreadStatus.ACTIVE))
    @rule(pick=PICK)
    def coach_transfers_to_queue(self, pick: int) -> None:
        thread = self._pick(pick, ThreadStatus.ACTIVE)
        transfer.thread_transfer(
            actor=self._coach(thread.coach_id), thread_id=thread.pk, to_coach=None, note="next"
        )

    @precondition(lambda self: self._any(ThreadStatus.ACTIVE, ThreadStatus.QUEUED))
    @rule(pick=PICK, to=st.integers(-1, 2))
    def supervisor_transfers(self, pick: int, to: int) -> None:
        """A queued or active thread, to a coach (over capacity too) or the queue."""
        thread = self._pick(pick, ThreadStatus.ACTIVE, ThreadStatus.QUEUED)
        if to < 0:
            refused = thread.status == ThreadStatus.QUEUED
            to_coach = None
        else:
            to_coach = self.coaches[to].id
            refused = to_coach == thread.coach_id or self._offline(to_coach)
        self._expect(
            refused,
            transfer.thread_transfer,
            actor=self.supervisor,
            thread_id=thread.pk,
            to_coach=to_coach,
            note="handoff",
        )

    @precondition(lambda self: self._any(ThreadStatus.ACTIVE))
    @rule(pick=PICK)
    def coach_resolves(self, pick: int) -> None:
        thread = self._pick(pick, ThreadStatus.ACTIVE)
        resolve.thread_resolve(actor=self._coach(thread.coach_id), thread_id=thread.pk)

    @precondition(lambda self: self._any(ThreadStatus.ACTIVE, ThreadStatus.QUEUED))
    @rule(pick=PICK)
    def supervisor_resolves(self, pick: int) -> None:
        """An active or a queued thread."""
        thread = self._pick(pick, ThreadStatus.ACTIVE, ThreadStatus.QUEUED)
        resolve.thread_resolve(actor=self.supervisor, thread_id=thread.pk)

    # --- what must always hold ----------------------------------------------------------

    @invariant()
    def no_assignment_over_capacity(self) -> None:
        assert not self.violations, self.violations

    @invariant()
    def coaches_and_states_agree(self) -> None:
        for thread in Thread.objects.all():
            if thread.status == ThreadStatus.ACTIVE:
                assert thread.coach_id in {c.id for c in self.coaches}
            if thread.status == ThreadStatus.QUEUED:
                assert thread.coach_id is None

    @invariant()
    def offline_coaches_hold_nothing(self) -> None:
        offline = CoachProfile.objects.filter(status=CoachStatus.OFFLINE).values("user_id")
        held = Thread.objects.filter(status=ThreadStatus.ACTIVE, coach_id__in=offline)
        assert not held.exists(), "an offline coach still holds a thread"

    @invariant()
    def work_conserving(self) -> None:
        """Worked out here from the rows, not by the selectors assignment itself uses."""
        connected = set(CoachSocket.objects.values_list("coach_id", flat=True))
        available = {
            profile.user_id
            for profile in CoachProfile.objects.filter(status=CoachStatus.ONLINE)
            if profile.user_id in connected and load_of(profile.user_id) < profile.capacity
        }
        for thread in Thread.objects.filter(status=ThreadStatus.QUEUED):
            free = available - {thread.passed_by_id}
            assert not free, f"thread {thread.pk} waits while coaches {free} are free"

    @invariant()
    def positions_are_ranks(self) -> None:
        queued = list(selectors.queued_threads())
        assert [selectors.queue_rank(thread) for thread in queued] == list(
            range(1, len(queued) + 1)
        )

    @invariant()
    def no_thread_lost(self) -> None:
        written = Thread.objects.filter(
            pk__in=Message.objects.filter(sender__isnull=False).values("thread_id")
        )
        assert not written.filter(status=ThreadStatus.NEW).exists()


def load_of(coach_id: int) -> int:
    """Her load from her active threads' priorities (urgent weighs more)."""
    priorities = Thread.objects.filter(coach_id=coach_id, status=ThreadStatus.ACTIVE)
    return sum(
        settings.CHAT_URGENT_WEIGHT if priority == Priority.URGENT else 1
        for priority in priorities.values_list("priority", flat=True)
    )


def test_routing_invariants_hold_for_any_sequence(monkeypatch):
    real_assign = assignment.thread_assign

    def checked_assign(thread, *, coach_id, reason, actor_id, **options):
        # Checked at the moment of the decision, as the coach's row is locked.
        profile, load = CoachProfile.objects.get(user_id=coach_id), load_of(coach_id)
        by_supervisor = reason == AssignmentReason.TRANSFER and actor_id == machine.supervisor.id
        if not by_supervisor and load >= profile.capacity:
            machine.violations.append(
                f"coach {coach_id} given a thread ({reason}) at {load}/{profile.capacity}"
            )
        if profile.status == CoachStatus.OFFLINE:
            machine.violations.append(f"offline coach {coach_id} given a thread ({reason})")
        if reason == AssignmentReason.AUTO and (
            profile.status != CoachStatus.ONLINE
            or not CoachSocket.objects.filter(coach_id=coach_id).exists()
        ):
            machine.violations.append(f"unavailable coach {coach_id} given a thread")
        return real_assign(thread, coach_id=coach_id, reason=reason, actor_id=actor_id, **options)

    monkeypatch.setattr(assignment, "thread_assign", checked_assign)
    monkeypatch.setattr(transfer, "thread_assign", checked_assign)

    class Checked(Routing):
        def __init__(self) -> None:
            super().__init__()
            nonlocal machine
            machine = self

    machine = None
    Checked.TestCase.settings = hypothesis_settings(
        max_examples=40,
        stateful_step_count=25,
        deadline=None,
        # Explaining a failure traces every line it runs (sys.settrace before Python 3.12):
        # through Django, that took minutes, past the test's timeout.
        phases=[phase for phase in Phase if phase is not Phase.explain],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Checked.TestCase().runTest()
