"""The hot path's database cost: one hop, a handful of statements, none per recipient."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.roles import load_actor
from chat.actions.messages import message_send
from chat.errors import ChatError, ErrorCode
from chat.models import ReadState, SystemEvent, Thread, ThreadStatus
from routing.models import Priority
from tests.support.factories import make_coach, make_member, make_thread

pytestmark = pytest.mark.django_db

# On PostgreSQL a plain message (no tag, no flag, no change of state) is one statement,
# its own transaction: lock the thread, insert unless the client_id was sent before,
# mark the sender's read state, move the thread's last_seq and reply clock. On SQLite
# the same steps are four statements, plus BEGIN and COMMIT.
POSTGRES = connection.vendor == "postgresql"
STATEMENTS = 1 if POSTGRES else 4 + 2


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
    with django_assert_max_num_queries(STATEMENTS):
        message_send(actor=member, thread_id=thread.pk, client_id="a", text="thanks, will try")


def test_a_coachs_reply(chat, django_assert_max_num_queries):
    thread, _, coach = chat
    with django_assert_max_num_queries(STATEMENTS):
        message_send(actor=coach, thread_id=thread.pk, client_id="b", text="Great, talk soon")


def test_a_retry_stores_nothing_and_reads_the_first_ack(chat, django_assert_max_num_queries):
    thread, member, coach = chat
    first = message_send(actor=member, thread_id=thread.pk, client_id="c", text="hello")
    message_send(actor=coach, thread_id=thread.pk, client_id="d", text="Hello Dana")
    # Lock, the insert that finds the client_id taken, and the read of the first send,
    # in a transaction; on PostgreSQL after the one statement that found nothing to do.
    with django_assert_max_num_queries(3 + 2 + POSTGRES):
        result = message_send(actor=member, thread_id=thread.pk, client_id="c", text="hello")
    assert result.duplicate
    assert result.seq == first.seq
    # Nothing moved: not the thread's last_seq, not her read state, not the reply clock.
    thread.refresh_from_db()
    assert thread.last_seq == first.seq + 1
    assert thread.awaiting_reply_since is None
    assert ReadState.objects.get(thread=thread, user_id=member.id).read_seq == first.seq


# Messages that change what a thread object shows take the full path on every backend;
# on PostgreSQL these fail if the one-statement path took them.


def test_a_message_that_triage_tags_raises_the_threads_priority(chat):
    thread, member, _ = chat
    version = Thread.objects.get(pk=thread.pk).version
    message_send(
        actor=member, thread_id=thread.pk, client_id="e", text="I'm soaking a pad every hour"
    )
    thread.refresh_from_db()
    assert thread.priority == Priority.URGENT
    assert thread.version > version
    assert thread.messages.filter(event=SystemEvent.SAFETY).exists()


def test_a_reply_to_an_unanswered_thread_clears_the_flag(chat):
    thread, _, coach = chat
    Thread.objects.filter(pk=thread.pk).update(unanswered=True)
    message_send(actor=coach, thread_id=thread.pk, client_id="f", text="Sorry for the wait")
    thread.refresh_from_db()
    assert not thread.unanswered
    assert thread.awaiting_reply_since is None


def test_a_coach_no_longer_assigned_cannot_post(chat):
    thread, _, coach = chat
    Thread.objects.filter(pk=thread.pk).update(status=ThreadStatus.QUEUED, coach=None)
    with pytest.raises(ChatError) as refused:
        message_send(actor=coach, thread_id=thread.pk, client_id="g", text="Still here?")
    assert refused.value.code == ErrorCode.NOT_FOUND
    assert not thread.messages.filter(client_id="g").exists()


@pytest.mark.skipif(not POSTGRES, reason="prepared statements are PostgreSQL's")
def test_the_message_statement_is_prepared_once_and_reused(chat):
    # Parsed and planned once per connection, not for every message: over half of
    # PostgreSQL's CPU per message when sent as text (chat/prepared.py).
    thread, member, _ = chat

    def prepared() -> dict[str, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements"
            )
            return dict(cursor.fetchall())

    for number in range(3):
        message_send(actor=member, thread_id=thread.pk, client_id=f"p{number}", text="ok")
    statements = [text for text in prepared() if "INSERT INTO chat_message" in text]
    assert len(statements) == 1, statements
    assert "$1" in statements[0]  # values bound on the server, not written into the text
    assert prepared()[statements[0]] >= 3
