"""Ending a session or deactivating an account closes the user's sockets at once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save
from django.dispatch import receiver

from chat.actions.sockets import sockets_close


@receiver(user_logged_out)
def close_sockets_of_session(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None and request is not None and request.session.session_key:
        sockets_close(user_id=user.pk, session_key=request.session.session_key)


@receiver(post_save, sender=get_user_model())
def close_sockets_of_inactive(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    # Saving an inactive user again sends a redundant close, which no socket minds.
    if not created and not instance.is_active:
        sockets_close(user_id=instance.pk)
