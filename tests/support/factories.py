"""Users of each role, made the way the service expects them."""

from __future__ import annotations

import datetime
import itertools

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.roles import Actor, load_actor
from coaches.models import CoachProfile, CoachStatus
from members.models import DeliveryType, MemberProfile
from routing.models import Tag

PASSWORD = "correct horse battery staple"
_numbers = itertools.count(1)


def make_member(name: str | None = None, *, weeks: int = 12, password: str = PASSWORD):
    number = next(_numbers)
    name = name or f"Member{number}"
    user = get_user_model().objects.create_user(
        username=f"{name.lower()}{number}", password=password, first_name=name
    )
    MemberProfile.objects.create(
        user=user,
        display_name=name,
        baby_birth_date=timezone.localdate() - datetime.timedelta(weeks=weeks),
        delivery_type=DeliveryType.VAGINAL,
    )
    return user


def make_coach(
    name: str | None = None,
    *,
    specialties: tuple[str, ...] = (),
    capacity: int = 3,
    status: str = CoachStatus.OFFLINE,
    password: str = PASSWORD,
):
    number = next(_numbers)
    name = name or f"Coach{number}"
    user = get_user_model().objects.create_user(
        username=f"{name.lower()}{number}", password=password, first_name=name
    )
    profile = CoachProfile.objects.create(
        user=user, display_name=name, capacity=capacity, status=status
    )
    profile.specialties.set(Tag.objects.filter(slug__in=specialties))
    return user


def make_supervisor(name: str | None = None, *, password: str = PASSWORD):
    number = next(_numbers)
    name = name or f"Supervisor{number}"
    return get_user_model().objects.create_user(
        username=f"{name.lower()}{number}", password=password, first_name=name, is_staff=True
    )


def actor(user) -> Actor:
    loaded = load_actor(user.pk)
    assert loaded is not None
    return loaded


# For async tests: channels' wrapper also returns the thread's connection afterwards,
# so no connection outlives the test (PostgreSQL refuses to drop a database in use).
amake_member = database_sync_to_async(make_member)
amake_coach = database_sync_to_async(make_coach)
amake_supervisor = database_sync_to_async(make_supervisor)
aactor = database_sync_to_async(actor)


def make_thread(member, *, coach=None, status: str | None = None, messages: int = 0):
    """A thread as routing would leave it: active with a coach, queued without one."""
    from chat.models import Message, Thread, ThreadStatus

    now = timezone.now()
    status = status or (ThreadStatus.ACTIVE if coach else ThreadStatus.NEW)
    thread = Thread.objects.create(
        member=member,
        coach=coach,
        status=status,
        enqueued_at=now if status != ThreadStatus.NEW else None,
        queued_since=now if status == ThreadStatus.QUEUED else None,
        assigned_at=now if coach else None,
    )
    Message.objects.bulk_create(
        Message(
            thread=thread,
            seq=seq,
            sender=member if seq % 2 else (coach or member),
            client_id=f"seed-{seq}",
            text=f"message {seq}",
            body=f"message {seq}",
        )
        for seq in range(1, messages + 1)
    )
    if messages:
        Thread.objects.filter(pk=thread.pk).update(last_seq=messages)
        thread.refresh_from_db()
    return thread


amake_thread = database_sync_to_async(make_thread)
