"""The hot path's database cost: one hop, a handful of statements, none per recipient."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.roles import load_actor
from chat.actions.messages import message_send
from chat.models import ReadState
from tests.support.factories import make_coach, make_member, make_thread

pytestmark = pytest.mark.django_db

# Lock and read the thread; insert unless the client_id was sent before, mark the
# sender's read state, move the thread's last_seq: on PostgreSQL the last three are
# one statement (each statement is a round trip), on SQLite three. Plus the
# transaction's own BEGIN and COMMIT where the backend reports them.
STATEMENTS = 2 if connection.vendor == "postgresql" else 4


@pytest.fixture
def chat():
    member, coach = make_member(), make_coach()
    thread = make_thread(member, coach=coach, messages=2)
    member, coach = load_actor(member.pk), load_actor(coach.pk)
    # The first message in a process compiles the triage rules; later ones don't.
    message_send(actor=member, thread_id=thread.pk, client_id="warm-up", text="hi")
    return thread, member, coach


def test_a_members_message_in_an_active_thread(chat, django_assert_max_num_queries):
    thread, member, _ = chat
    with django_assert_max_num_queries(STATEMENTS + 2):
        message_send(actor=member, thread_id=thread.pk, client_id="a", text="thanks, will try")


def test_a_coachs_reply(chat, django_assert_max_num_queries):
    thread, _, coach = chat
    with django_assert_max_num_queries(STATEMENTS + 2):
        message_send(actor=coach, thread_id=thread.pk, client_id="b", text="Great, talk soon")


def test_a_retry_stores_nothing_and_reads_the_first_ack(chat, django_assert_max_num_queries):
    thread, member, coach = chat
    first = message_send(actor=member, thread_id=thread.pk, client_id="c", text="hello")
    message_send(actor=coach, thread_id=thread.pk, client_id="d", text="Hello Dana")
    # Lock, the insert that finds the client_id taken, and the read of the first send.
    with django_assert_max_num_queries(3 + 2):
        result = message_send(actor=member, thread_id=thread.pk, client_id="c", text="hello")
    assert result.duplicate
    assert result.seq == first.seq
    # Nothing moved: not the thread's last_seq, not her read state, not the reply clock.
    thread.refresh_from_db()
    assert thread.last_seq == first.seq + 1
    assert thread.awaiting_reply_since is None
    assert ReadState.objects.get(thread=thread, user_id=member.id).read_seq == first.seq
