"""Property test: random sequences of what members, coaches and supervisors do, with the
routing invariants checked after every step.

- a thread has at most one coach; active ⇔ has a coach; queued ⇒ no coach;
- no coach is given a thread while her load is at or over capacity (checked at the
  moment of every assignment a coach or the queue makes);
- work-conserving: never a queued thread and an available coach left unmatched;
- queued threads' positions are their ranks 1..n;
- no thread is lost: a thread a member has written in is queued, active or resolved.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from accounts.roles import load_actor
from chat.actions.messages import message_send
from chat.actions.threads import thread_open
from chat.errors import ChatError
from chat.models import Message, Thread, ThreadStatus
from coaches.models import CoachProfile
from routing import selectors
from routing.actions import assignment, presence, resolve, transfer
from routing.models import AssignmentReason, CoachSocket
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
COACH_REASONS = {AssignmentReason.AUTO, AssignmentReason.CLAIM}


class Routing(RuleBasedStateMachine):
    """Three members, three coaches (capacities 1–2), one supervisor."""

    def __init__(self) -> None:
        super().__init__()
        self.savepoint = transaction.savepoint()
        self.channels = itertools.count(1)
        self.violations: list[str] = []

    def teardown(self) -> None:
        transaction.savepoint_rollback(self.savepoint)

    @initialize()
    def people(self) -> None:
        self.members = [load_actor(make_member().pk) for _ in range(3)]
        self.coaches = [
            load_actor(make_coach(capacity=capacity, specialties=specialties).pk)
            for capacity, specialties in ((1, ("leaking",)), (2, ("prolapse",)), (2, ()))
        ]
        self.supervisor = load_actor(make_supervisor().pk)

    # --- what people do ---------------------------------------------------------------

    @rule(member=st.integers(0, 2), text=st.sampled_from(TEXTS))
    def member_writes(self, member: int, text: str) -> None:
        actor = self.members[member]
        try:
            thread = thread_open(actor=actor)
            message_send(
                actor=actor, thread_id=thread["id"], client_id=f"c{next(self.channels)}", text=text
            )
        except ChatError:
            pass

    @rule(member=st.integers(0, 2))
    def member_writes_into_her_last_thread(self, member: int) -> None:
        actor = self.members[member]
        last = Thread.objects.filter(member_id=actor.id).order_by("-id").first()
        if last is not None:
            with contextlib.suppress(ChatError):
                message_send(
                    actor=actor,
                    thread_id=last.pk,
                    client_id=f"c{next(self.channels)}",
                    text="me again",
                )

    @rule(coach=st.integers(0, 2), status=st.sampled_from(["online", "away", "offline"]))
    def coach_sets_presence(self, coach: int, status: str) -> None:
        presence.presence_set(actor=self.coaches[coach], status=status)

    @rule(coach=st.integers(0, 2))
    def coach_connects(self, coach: int) -> None:
        presence.coach_socket_open(
            actor=self.coaches[coach], channel_name=f"test.{next(self.channels)}"
        )
        assignment.assign_waiting()

    @rule(coach=st.integers(0, 2))
    def coach_disconnects(self, coach: int) -> None:
        actor = self.coaches[coach]
        socket = CoachSocket.objects.filter(coach_id=actor.id).first()
        if socket is not None:
            presence.coach_socket_close(actor=actor, channel_name=socket.channel_name)

    @rule(coach=st.integers(0, 2))
    def grace_runs_out(self, coach: int) -> None:
        actor = self.coaches[coach]
        if not CoachSocket.objects.filter(coach_id=actor.id).exists():
            long_ago = timezone.now() - datetime.timedelta(
                seconds=settings.CHAT_COACH_GRACE_SECONDS + 1
            )
            CoachProfile.objects.filter(user_id=actor.id).update(disconnected_at=long_ago)
            presence.grace_expire()

    @rule(coach=st.integers(0, 2), pick=st.integers(0, 5))
    def coach_claims(self, coach: int, pick: int) -> None:
        queued = list(selectors.queued_threads().values_list("pk", flat=True))
        if queued:
            with contextlib.suppress(ChatError):
                assignment.queue_claim(
                    actor=self.coaches[coach], thread_id=queued[pick % len(queued)]
                )

    @rule(by=st.integers(0, 3), pick=st.integers(0, 5), to=st.integers(-1, 2))
    def transfer(self, by: int, pick: int, to: int) -> None:
        actor = self.supervisor if by == 3 else self.coaches[by]
        threads = list(
            Thread.objects.filter(status__in=["active", "queued"]).values_list("pk", flat=True)
        )
        if threads:
            with contextlib.suppress(ChatError):
                transfer.thread_transfer(
                    actor=actor,
                    thread_id=threads[pick % len(threads)],
                    to_coach=None if to < 0 else self.coaches[to].id,
                    note="handoff",
                )

    @rule(by=st.integers(0, 3), pick=st.integers(0, 5))
    def resolve(self, by: int, pick: int) -> None:
        actor = self.supervisor if by == 3 else self.coaches[by]
        threads = list(Thread.objects.exclude(status="resolved").values_list("pk", flat=True))
        if threads:
            with contextlib.suppress(ChatError):
                resolve.thread_resolve(actor=actor, thread_id=threads[pick % len(threads)])

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
    def work_conserving(self) -> None:
        head = selectors.queued_threads().first()
        if head is not None:
            assert selectors.ranked_coaches(head) == [], "a queued thread waits beside a free coach"

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


def test_routing_invariants_hold_for_any_sequence(monkeypatch):
    real_assign = assignment.thread_assign

    def checked_assign(thread, *, coach_id, reason, actor_id, **options):
        # Checked at the moment of the decision, as the coach's row is locked.
        if reason in COACH_REASONS or (
            reason == AssignmentReason.TRANSFER and actor_id == coach_id
        ):
            load = selectors.coach_load(coach_id)
            capacity = CoachProfile.objects.get(user_id=coach_id).capacity
            if load >= capacity:
                machine.violations.append(f"coach {coach_id} given a thread at {load}/{capacity}")
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
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Checked.TestCase().runTest()
