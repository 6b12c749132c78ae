"""seed_demo: the named demo accounts, and numbered accounts for load generators."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from accounts.roles import Role, user_role
from coaches.models import CoachProfile

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_named_demo_accounts_with_their_roles_and_printed_logins():
    printed = seed()
    roles = {
        "dana": Role.MEMBER,
        "priya": Role.MEMBER,
        "kelly": Role.COACH,
        "maria": Role.COACH,
        "sam": Role.COACH,
        "sophie": Role.SUPERVISOR,
    }
    for username, role in roles.items():
        user = authenticate(username=username, password="demo-pass-2026")
        assert user is not None, username
        assert user_role(user) == role
        assert username in printed
    assert "demo-pass-2026" in printed
    specialties = {
        coach.display_name: set(coach.specialties.values_list("slug", flat=True))
        for coach in CoachProfile.objects.all()
    }
    assert len({frozenset(s) for s in specialties.values()}) == 3, "coaches differ in specialty"
    # The admin account edits people in the Django admin; sophie only the catalogues.
    admin = authenticate(username="admin", password="demo-pass-2026")
    assert admin is not None and admin.is_superuser and admin.is_staff
    assert "admin" in printed


def test_rerunning_updates_instead_of_failing():
    seed()
    seed()
    assert get_user_model().objects.filter(username="dana").count() == 1


def test_bulk_accounts_for_load_generators():
    seed(
        "--members",
        "7",
        "--coaches",
        "3",
        "--supervisors",
        "2",
        "--capacity",
        "4",
        "--password",
        "load-test-pw",
    )
    users = get_user_model().objects
    assert users.filter(username__regex=r"^member[0-9]+$").count() == 7
    assert users.filter(username__regex=r"^coach[0-9]+$").count() == 3
    assert users.filter(username__regex=r"^supervisor[0-9]+$").count() == 2
    assert user_role(authenticate(username="member7", password="load-test-pw")) == Role.MEMBER
    assert user_role(authenticate(username="coach3", password="load-test-pw")) == Role.COACH
    assert (
        user_role(authenticate(username="supervisor2", password="load-test-pw")) == Role.SUPERVISOR
    )
    assert set(CoachProfile.objects.values_list("capacity", flat=True)) == {4}
    assert not users.filter(username="dana").exists()


def test_bulk_rerun_changes_password_and_capacity_and_grows():
    seed("--members", "2", "--coaches", "1", "--password", "first-pw-123")
    seed("--members", "4", "--coaches", "1", "--capacity", "6", "--password", "second-pw-456")
    assert get_user_model().objects.filter(username__startswith="member").count() == 4
    assert authenticate(username="member1", password="first-pw-123") is None
    assert authenticate(username="member1", password="second-pw-456") is not None
    assert CoachProfile.objects.get(user__username="coach1").capacity == 6
