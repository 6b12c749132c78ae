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
from django.db.models import QuerySet


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


def load_actor(user_id: int) -> Actor | None:
    """The Actor for an active user with a role, in one query; None otherwise."""
    user = users_with_profiles().filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    role = role_of(user)
    if role is None:
        return None
    return Actor(id=user.pk, role=role, name=display_name(user))


def _has_profile(user: AbstractBaseUser, attr: str) -> bool:
    # A missing reverse one-to-one raises RelatedObjectDoesNotExist, an AttributeError.
    return hasattr(user, attr)
