"""Rows read and written as plain SQL (chat/rows.py) are the models the ORM would give:
same values, aware datetimes on either database, profiles loaded as select_related
loads them, and writes that read back the same through the ORM."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role, display_name, role_of, users_by_id
from chat import rows
from chat.models import Thread
from routing.models import Assignment, AssignmentReason
from tests.support.factories import make_coach, make_member, make_supervisor, make_thread

pytestmark = pytest.mark.django_db


def values(instance) -> dict:
    return {
        field.attname: getattr(instance, field.attname)
        for field in type(instance)._meta.concrete_fields
    }


def test_a_thread_read_as_sql_equals_the_orms_down_to_its_timestamps():
    thread = make_thread(make_member(), coach=make_coach())
    plain = Thread.objects.first_where("id = %s", [thread.pk], lock="FOR UPDATE")
    assert values(plain) == values(Thread.objects.get(pk=thread.pk))
    assert plain.created_at.tzinfo is not None and plain.assigned_at.tzinfo is not None
    assert Thread.objects.first_where("id = %s", [thread.pk + 1000]) is None


def test_people_come_with_their_profiles_and_without_one_as_the_orm_leaves_it():
    member, coach = make_member("Maya"), make_coach("Corinne")
    supervisor = make_supervisor("Sam")
    users = users_by_id([member.pk, coach.pk, supervisor.pk])
    with CaptureQueriesContext(connection) as queries:
        assert [role_of(users[u.pk]) for u in (member, coach, supervisor)] == [
            Role.MEMBER,
            Role.COACH,
            Role.SUPERVISOR,
        ]
        assert display_name(users[member.pk]) == member.member_profile.display_name
        assert display_name(users[coach.pk]) == coach.coach_profile.display_name
        assert users[coach.pk].coach_profile.user is users[coach.pk]
    assert len(queries) == 0, "a profile was fetched after the load"
    assert users_by_id([]) == {}


def test_rows_written_as_sql_read_back_the_same_through_the_orm():
    thread = make_thread(make_member(), coach=make_coach())
    assignment = Assignment(
        thread=thread, to_coach_id=thread.coach_id, reason=AssignmentReason.AUTO
    )
    rows.insert(assignment, connection)
    stored = Assignment.objects.get(pk=assignment.pk)
    assert values(stored) == values(assignment)

    thread.handoff_note, thread.version = "She prefers mornings", thread.version + 1
    rows.update(thread, ["handoff_note", "version"], connection)
    again = Thread.objects.get(pk=thread.pk)
    assert (again.handoff_note, again.version) == ("She prefers mornings", thread.version)
