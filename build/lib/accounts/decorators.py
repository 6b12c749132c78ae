from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from accounts.roles import Role, user_role


def role_required(*roles: Role) -> Callable:
    """A page for these roles only: anonymous users log in, other roles get 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            role = user_role(request.user)
            if role not in roles:
                raise PermissionDenied("This page is not for your role.")
            request.role = role
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
