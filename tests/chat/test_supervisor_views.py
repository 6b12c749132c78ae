"""The supervisor pages over HTTP: who may open them, caching, the floor page, the access
records page, and the audit trail that neither the app nor the admin can change."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse

from accounts.supervisors import supervisor_group
from chat.actions.audit import transcript_access_record
from chat.models import Thread, TranscriptAccess
from tests.chat.test_transcripts import converse
from tests.support.factories import make_coach, make_member, make_supervisor

pytestmark = pytest.mark.django_db

PAGES = ["chat:floor", "chat:transcripts", "chat:access"]
TRANSCRIPT_PAGES = ["chat:transcript", "chat:transcript_json", "chat:transcript_csv"]


@pytest.fixture
def thread():
    member = make_member("Dana")
    return converse(member, (member, "I leak when I laugh"))


def every_url(thread: Thread) -> list[str]:
    return [reverse(name) for name in PAGES] + [
        reverse(name, args=[thread.pk]) for name in TRANSCRIPT_PAGES
    ]


# --- who may open what -------------------------------------------------------------------


def test_anonymous_users_are_sent_to_log_in(client, thread):
    for url in every_url(thread):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"/accounts/login/?next={url}"
    assert TranscriptAccess.objects.count() == 0


@pytest.mark.parametrize("make_user", [make_member, make_coach])
def test_members_and_coaches_are_refused(client, thread, make_user):
    client.force_login(make_user())
    for url in every_url(thread):
        assert client.get(url).status_code == 403, url
    assert TranscriptAccess.objects.count() == 0


def test_the_member_of_the_thread_and_its_coach_are_refused_too(client, thread):
    coach = make_coach("Kelly")
    Thread.objects.filter(pk=thread.pk).update(coach=coach, status="active")
    for user in (thread.member, coach):
        client.force_login(user)
        for url in every_url(thread):
            assert client.get(url).status_code == 403, url


def test_supervisors_and_superusers_may_open_every_page(client, thread):
    superuser = get_user_model().objects.create_superuser("root", password="x" * 12)
    for user in (make_supervisor(), superuser):
        client.force_login(user)
        for url in every_url(thread):
            assert client.get(url).status_code == 200, url


def test_a_deactivated_supervisor_is_refused(client, thread):
    supervisor = make_supervisor()
    client.force_login(supervisor)
    get_user_model().objects.filter(pk=supervisor.pk).update(is_active=False)
    response = client.get(reverse("chat:transcript", args=[thread.pk]))
    assert response.status_code in (302, 403)
    assert TranscriptAccess.objects.count() == 0


def test_pages_are_read_only(client, thread):
    client.force_login(make_supervisor())
    for url in every_url(thread):
        assert client.post(url).status_code == 405, url
    assert TranscriptAccess.objects.count() == 0


def test_no_page_is_ever_cached(client, thread):
    client.force_login(make_supervisor())
    for url in every_url(thread):
        cache_control = client.get(url)["Cache-Control"]
        assert "no-store" in cache_control, url
        assert "private" in cache_control, url


# --- the floor page ------------------------------------------------------------------------


def test_the_floor_loads_its_module_and_the_tag_catalogue_without_inline_script(client):
    client.force_login(make_supervisor())
    response = client.get(reverse("chat:floor"))
    page = response.content.decode()
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert '<script type="module" src="/static/js/floor.js"></script>' in page
    # The only other script element is a JSON data block.
    scripts = re.findall(r"<script([^>]*)>", page)
    assert sorted(scripts) == sorted(
        [' type="module" src="/static/js/floor.js"', ' id="tag-catalogue" type="application/json"']
    )
    assert '"slug": "red-flag"' in page
    assert "style=" not in page


# --- the access records page ----------------------------------------------------------------


def access_rows(client, **params) -> list[tuple[str, str, str]]:
    """(username, action, thread) of each row listed."""
    response = client.get(reverse("chat:access"), params)
    assert response.status_code == 200
    return [
        (record.user.username, record.action, record.thread_id)
        for record in response.context["page"].object_list
    ]


def test_access_records_list_and_filter_by_user_thread_and_action(client, thread):
    other_member = make_member()
    other = converse(other_member, (other_member, "hello"))
    ann, bea = make_supervisor("Ann"), make_supervisor("Bea")
    transcript_access_record(user_id=ann.pk, role="supervisor", thread_id=thread.pk, action="view")
    transcript_access_record(user_id=ann.pk, role="supervisor", thread_id=other.pk, action="export")
    transcript_access_record(user_id=bea.pk, role="supervisor", thread_id=thread.pk, action="watch")
    client.force_login(ann)

    assert access_rows(client) == [
        (bea.username, "watch", thread.pk),
        (ann.username, "export", other.pk),
        (ann.username, "view", thread.pk),
    ]
    assert access_rows(client, user=bea.pk) == [(bea.username, "watch", thread.pk)]
    assert access_rows(client, thread=other.pk) == [(ann.username, "export", other.pk)]
    assert access_rows(client, action="view") == [(ann.username, "view", thread.pk)]
    assert access_rows(client, user=ann.pk, thread=thread.pk) == [(ann.username, "view", thread.pk)]
    # Reading the access records is not a transcript read.
    assert TranscriptAccess.objects.count() == 3


def test_access_records_page_shows_who_what_and_when(client, thread):
    supervisor = make_supervisor("Ann")
    client.force_login(supervisor)
    client.get(reverse("chat:transcript", args=[thread.pk]))
    record = TranscriptAccess.objects.get()
    page = client.get(reverse("chat:access")).content.decode()
    assert supervisor.username in page
    assert f'href="/supervisor/transcripts/{thread.pk}/"' in page
    assert ">view<" in page
    assert record.created_at.strftime("%Y-%m-%d %H:%M:%S") in page


def test_access_records_are_paginated(client, thread):
    supervisor = make_supervisor()
    TranscriptAccess.objects.bulk_create(
        TranscriptAccess(user=supervisor, role="supervisor", thread=thread, action="view")
        for _ in range(55)
    )
    client.force_login(supervisor)
    first = client.get(reverse("chat:access"))
    assert len(first.context["page"].object_list) == 50
    second = client.get(reverse("chat:access"), {"page": 2})
    assert len(second.context["page"].object_list) == 5
    assert "Page 2 of 2" in second.content.decode()


def test_a_bad_filter_value_lists_nothing_rather_than_everything(client, thread):
    client.force_login(make_supervisor())
    response = client.get(reverse("chat:access"), {"thread": "not-a-number"})
    assert response.status_code == 200
    assert response.context["page"] is None
    page = response.content.decode()
    assert "Enter a whole number." in page
    assert "No access records match." not in page


def test_a_filter_nobody_matches_says_so(client, thread):
    supervisor = make_supervisor()
    transcript_access_record(
        user_id=supervisor.pk, role="supervisor", thread_id=thread.pk, action="view"
    )
    client.force_login(supervisor)
    page = client.get(reverse("chat:access"), {"action": "export"}).content.decode()
    assert ">0 records</p>" in page
    assert "No access records match." in page


# --- nobody changes the audit trail ---------------------------------------------------------


@pytest.fixture
def record(thread):
    return transcript_access_record(
        user_id=make_supervisor().pk, role="supervisor", thread_id=thread.pk, action="view"
    )


def test_the_model_refuses_updates_and_deletes(record):
    record.action = "export"
    with pytest.raises(PermissionError):
        record.save()
    with pytest.raises(PermissionError):
        record.delete()
    with pytest.raises(PermissionError):
        TranscriptAccess.objects.filter(pk=record.pk).update(action="export")
    with pytest.raises(PermissionError):
        TranscriptAccess.objects.filter(pk=record.pk).delete()
    # bulk_update runs in a transaction of its own that the refusal breaks: give it a
    # savepoint so the test's transaction survives.
    with pytest.raises(PermissionError), transaction.atomic():
        TranscriptAccess.objects.bulk_update([record], ["action"])
    assert TranscriptAccess.objects.get().action == "view"


def admin_user(kind: str):
    if kind == "superuser":
        return get_user_model().objects.create_superuser("root", password="x" * 12)
    supervisor = make_supervisor()
    supervisor_group().user_set.add(supervisor)
    return supervisor


@pytest.mark.parametrize("kind", ["superuser", "supervisor"])
def test_the_admin_shows_records_but_refuses_to_add_change_or_delete(client, record, kind):
    client.force_login(admin_user(kind))
    changelist = reverse("admin:chat_transcriptaccess_changelist")
    change = reverse("admin:chat_transcriptaccess_change", args=[record.pk])
    delete = reverse("admin:chat_transcriptaccess_delete", args=[record.pk])

    listing = client.get(changelist)
    assert listing.status_code == 200
    assert "delete_selected" not in listing.content.decode()
    view = client.get(change)
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    assert client.post(change, {"action": "export", "role": "x"}).status_code == 403
    assert client.get(delete).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:chat_transcriptaccess_add")).status_code == 403
    bulk = client.post(
        changelist, {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    assert list(TranscriptAccess.objects.values_list("pk", "action")) == [(record.pk, "view")]
