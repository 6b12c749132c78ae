from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.decorators import role_required
from accounts.roles import Role


@role_required(Role.SUPERVISOR)
def floor(request: HttpRequest) -> HttpResponse:
    """The supervisor's live floor."""
    return render(request, "chat/floor.html")
