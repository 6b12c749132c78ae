from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.decorators import role_required
from accounts.roles import Role


@role_required(Role.MEMBER)
def portal(request: HttpRequest) -> HttpResponse:
    """The member's chat page."""
    return render(request, "members/portal.html")
