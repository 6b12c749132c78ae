from __future__ import annotations

import math
from typing import Any

from django import forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts import throttle
from accounts.roles import Role, user_role

HOME_BY_ROLE = {Role.MEMBER: "/portal/", Role.COACH: "/console/", Role.SUPERVISOR: "/supervisor/"}


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's login form, refusing attempts while the account is locked."""

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        wait = throttle.seconds_locked(username)
        if wait:
            minutes = math.ceil(wait / 60)
            raise forms.ValidationError(
                f"Too many failed sign-ins for this account. Try again in {minutes} "
                f"minute{'s' if minutes != 1 else ''}, or ask your programme team to reset "
                "your password.",
                code="throttled",
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if username and self.cleaned_data.get("password"):
                throttle.record_failure(username)
            raise
        throttle.record_success(username)
        return cleaned


class LoginView(auth_views.LoginView):
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to its page."""
    role = user_role(request.user)
    if role is None:
        raise PermissionDenied("This account has no role in the coaching chat.")
    return redirect(HOME_BY_ROLE[role])
