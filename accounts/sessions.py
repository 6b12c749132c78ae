"""Whether a socket's user is still signed in, checked again while the socket is open."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils.crypto import constant_time_compare


class SessionEnded(Exception):
    """The socket's user was deactivated, or its session ended, since it opened."""


def signed_in(user_id: int, session_key: str | None) -> bool:
    """The user is still active and still signed in with the session the socket opened
    with (the same checks Django makes of a request's session, secret key fallbacks
    included). Logout and deactivation close sockets through the channel layer; this
    holds when that event was lost (the layer down at that moment), or the session
    expired, or the password changed.
    """
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    if session_key is None:
        return True
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    if session.get(SESSION_KEY) != str(user.pk):
        return False
    stored = session.get(HASH_SESSION_KEY, "")
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return any(constant_time_compare(stored, expected) for expected in hashes)


def as_signed_in(*, action: Callable[..., Any], session_key: str | None, **kwargs: Any) -> Any:
    """A frame's action, in the same database hop as the check that its user may act."""
    if not signed_in(kwargs["actor"].id, session_key):
        raise SessionEnded
    return action(**kwargs)
