"""The admin lists people with their roles and edits their profiles; supervisors get
only the catalogues and the audit trail."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from accounts.supervisors import supervisor_group
from tests.support.factories import make_coach, make_member, make_supervisor

pytestmark = pytest.mark.django_db


def test_superuser_sees_people_with_roles_and_edits_a_coachs_profile(admin_client):
    member, coach = make_member("Dana"), make_coach("Kelly")
    listing = admin_client.get("/admin/auth/user/").content.decode()
    assert member.username in listing and coach.username in listing
    assert "member" in listing and "coach" in listing
    page = admin_client.get(f"/admin/auth/user/{coach.pk}/change/")
    assert page.status_code == 200
    assert "Capacity" in page.content.decode()


def test_a_supervisor_edits_catalogues_but_not_people_or_the_audit_trail(client):
    supervisor = make_supervisor()
    supervisor.groups.add(supervisor_group())
    client.force_login(supervisor)
    assert client.get("/admin/routing/triagerule/").status_code == 200
    assert client.get("/admin/coaches/cannedreply/add/").status_code == 200
    assert client.get("/admin/chat/transcriptaccess/").status_code == 200
    assert client.get("/admin/auth/user/").status_code == 403
    assert client.get("/admin/chat/transcriptaccess/add/").status_code == 403


def test_members_and_coaches_never_reach_the_admin(client):
    for user in (make_member(), make_coach()):
        client.force_login(user)
        response = client.get("/admin/")
        assert response.status_code == 302 and "/admin/login/" in response.url
    assert get_user_model().objects.filter(is_staff=True).count() == 0


@pytest.mark.django_db(transaction=True)
def test_raising_a_coachs_capacity_in_the_admin_assigns_waiting_threads(admin_client):
    from chat.models import Thread, ThreadStatus
    from coaches.models import CoachProfile
    from routing.actions.presence import coach_socket_open
    from tests.support.factories import actor, make_thread

    coach = make_coach(capacity=1, status="online")
    coach_socket_open(actor=actor(coach), channel_name="admin-test.1")
    make_thread(make_member(), coach=coach)
    waiting = make_thread(make_member(), status=ThreadStatus.QUEUED)
    profile = CoachProfile.objects.get(user=coach)
    response = admin_client.post(
        f"/admin/coaches/coachprofile/{profile.pk}/change/",
        {
            "user": coach.pk,
            "display_name": profile.display_name,
            "capacity": 2,
            "status": "online",
            "credentials": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Thread.objects.get(pk=waiting.pk).coach_id == coach.pk


def test_the_admin_refuses_a_phrase_triage_cannot_read(admin_client):
    from routing.models import Tag, TriageRule

    tag = Tag.objects.get(slug="leaking")
    response = admin_client.post(
        "/admin/routing/triagerule/add/",
        {
            "tag": tag.pk,
            "phrase": "leak ...",
            "kind": "match",
            "negatable": "on",
            "active": "on",
            "note": "",
        },
    )
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not TriageRule.objects.filter(phrase="leak ...").exists()
