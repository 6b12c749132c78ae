from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.decorators import role_required
from accounts.roles import Role
from coaches.models import CannedReply
from routing.models import Tag


@role_required(Role.COACH)
def console(request: HttpRequest) -> HttpResponse:
    """The coach's console; queue and threads come over the socket, catalogues from here."""
    return render(
        request,
        "coaches/console.html",
        {
            "console": {
                "loginUrl": settings.LOGIN_URL,
                "cannedReplies": list(
                    CannedReply.objects.filter(active=True).values("id", "title", "body")
                ),
                "tags": list(Tag.objects.filter(active=True).values("slug", "name")),
            },
        },
    )
