"""Logging in and out, where each role lands, and per-account throttling of failures."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import LoginThrottle
from tests.support.factories import PASSWORD, make_coach, make_member, make_supervisor

pytestmark = pytest.mark.django_db


def login(client, username, password):
    return client.post("/accounts/login/", {"username": username, "password": password})


@pytest.mark.parametrize(
    ("factory", "page"),
    [(make_member, "/portal/"), (make_coach, "/console/"), (make_supervisor, "/supervisor/")],
)
def test_home_sends_each_role_to_its_page(client, factory, page):
    user = factory()
    response = login(client, user.username, PASSWORD)
    assert response.status_code == 302
    assert client.get("/").url == page
    assert client.get(page).status_code == 200


def test_anonymous_home_goes_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_login_page_has_csrf_protected_form(client):
    page = client.get("/accounts/login/").content.decode()
    assert 'name="csrfmiddlewaretoken"' in page


def test_logout_ends_the_session(client):
    member = make_member()
    login(client, member.username, PASSWORD)
    client.post("/accounts/logout/")
    assert client.get("/portal/").status_code == 302


def test_five_failures_lock_the_account_even_for_the_right_password(client):
    member = make_member()
    for _ in range(5):
        assert login(client, member.username, "wrong").status_code == 200
    response = login(client, member.username, PASSWORD)
    assert response.status_code == 200
    assert "Too many failed sign-ins" in response.content.decode()


def test_the_lock_is_per_account_not_per_address(client):
    locked, other = make_member(), make_member()
    for _ in range(5):
        login(client, locked.username, "wrong")
    # Same client address (a clinic's shared connection): the other account signs in.
    assert login(client, other.username, PASSWORD).status_code == 302


def test_a_success_before_the_limit_clears_the_count(client):
    member = make_member()
    for _ in range(4):
        login(client, member.username, "wrong")
    assert login(client, member.username, PASSWORD).status_code == 302
    assert not LoginThrottle.objects.filter(username=member.username).exists()


def test_the_lock_expires(client):
    member = make_member()
    for _ in range(5):
        login(client, member.username, "wrong")
    LoginThrottle.objects.filter(username=member.username).update(locked_until=timezone.now())
    assert login(client, member.username, PASSWORD).status_code == 302


def test_unknown_usernames_are_throttled_alike(client):
    for _ in range(5):
        login(client, "nobody-here", "guess")
    response = login(client, "nobody-here", "guess")
    assert "Too many failed sign-ins" in response.content.decode()
