from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.decorators import role_required
from accounts.roles import Role


@role_required(Role.COACH)
def console(request: HttpRequest) -> HttpResponse:
    """The coach's console."""
    return render(request, "coaches/console.html")
