"""Who a user is to this service: member, coach or supervisor.

A member has a MemberProfile, a coach a CoachProfile; a supervisor is staff
(`is_staff`) without either. The role is decided once per socket or request and
carried as an :class:`Actor`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import QuerySet

from chat import rows


class Role(StrEnum):
    MEMBER = "member"
    COACH = "coach"
    SUPERVISOR = "supervisor"


@dataclass(frozen=True, slots=True)
class Actor:
    """The user behind a request, with the role and name decided when it started."""

    id: int
    role: Role
    name: str

    def person(self) -> dict[str, object]:
        """As named in frames: {"id", "role", "name"}."""
        return {"id": self.id, "role": self.role.value, "name": self.name}


def role_of(user: AbstractBaseUser) -> Role | None:
    """The role the user's profile gives, active or not (for naming past senders)."""
    if _has_profile(user, "coach_profile"):
        return Role.COACH
    if _has_profile(user, "member_profile"):
        return Role.MEMBER
    if user.is_staff:
        return Role.SUPERVISOR
    return None


def user_role(user: AbstractBaseUser | AnonymousUser) -> Role | None:
    """The role an authenticated, active user may act in, or None."""
    if not user.is_authenticated or not user.is_active:
        return None
    return role_of(user)


def display_name(user: AbstractBaseUser) -> str:
    """The name other people see: the profile's display name, else the full name."""
    for attr in ("coach_profile", "member_profile"):
        if _has_profile(user, attr):
            return getattr(user, attr).display_name
    return user.get_full_name() or user.get_username()


def users_with_profiles() -> QuerySet:
    """Users with both profiles joined: what role_of and display_name read."""
    return get_user_model().objects.select_related("coach_profile", "member_profile")


def users_by_id(ids: list[int]) -> dict[int, AbstractBaseUser]:
    """Users with both profiles loaded, as users_with_profiles() loads them, by id.

    One plain statement: building the queryset cost more than running it where every
    assignment and every socket loads its people (docs/benchmarks.md).
    """
    if not ids:
        return {}
    from coaches.models import CoachProfile  # the profiles' apps import this module
    from members.models import MemberProfile

    User = get_user_model()
    sql = (
        f"SELECT {rows.columns(User, 'u')}, {rows.columns(CoachProfile, 'c')}, "  # noqa: S608
        f"{rows.columns(MemberProfile, 'm')} FROM {User._meta.db_table} u "
        f"LEFT JOIN {CoachProfile._meta.db_table} c ON c.user_id = u.id "
        f"LEFT JOIN {MemberProfile._meta.db_table} m ON m.user_id = u.id "
        f"WHERE u.id IN ({rows.placeholders(ids)})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, list(ids))
        found = cursor.fetchall()
    users = {}
    user_width, coach_width = rows.width(User), rows.width(CoachProfile)
    for row in found:
        user = rows.from_row(User, row[:user_width], connection)
        for model, values in (
            (CoachProfile, row[user_width : user_width + coach_width]),
            (MemberProfile, row[user_width + coach_width :]),
        ):
            # As select_related leaves them: a missing profile is cached as None,
            # which the reverse accessor raises DoesNotExist for.
            profile = None if values[0] is None else rows.from_row(model, values, connection)
            user_field = model._meta.get_field("user")
            user_field.remote_field.set_cached_value(user, profile)
            if profile is not None:
                user_field.set_cached_value(profile, user)
        users[user.pk] = user
    return users


def load_actor(user_id: int) -> Actor | None:
    """The Actor for an active user with a role, in one query; None otherwise."""
    user = users_by_id([user_id]).get(user_id)
    if user is None or not user.is_active:
        return None
    role = role_of(user)
    if role is None:
        return None
    return Actor(id=user.pk, role=role, name=display_name(user))


def _has_profile(user: AbstractBaseUser, attr: str) -> bool:
    # A missing reverse one-to-one raises RelatedObjectDoesNotExist, an AttributeError.
    return hasattr(user, attr)
