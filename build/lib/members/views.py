from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.decorators import role_required
from accounts.roles import Role, display_name


@role_required(Role.MEMBER)
def portal(request: HttpRequest) -> HttpResponse:
    """The member's chat page; the conversation itself comes over the socket."""
    return render(
        request,
        "members/portal.html",
        {
            "display_name": display_name(request.user),
            "portal": {"loginUrl": settings.LOGIN_URL},
        },
    )
