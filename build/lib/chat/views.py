"""The supervisor's pages: the live floor, transcript search, review and export, and the
audit trail of transcript reads.

Every page is for supervisors only and is never cached (health data). Every response
that shows a transcript records the read first (chat/transcripts.py).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.decorators import role_required
from accounts.roles import Role
from chat import transcripts
from chat.actions.audit import transcript_access_record
from chat.models import Thread, ThreadStatus, TranscriptAction
from routing.models import Tag

TRANSCRIPTS_PER_PAGE = 25
ACCESS_RECORDS_PER_PAGE = 50


def supervisor_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """GET only, supervisors only, and never stored by a browser or proxy cache."""

    # The role check comes first: a stranger is sent to log in whatever the method.
    return never_cache(role_required(Role.SUPERVISOR)(require_GET(view)))


# --- the floor -----------------------------------------------------------------------------


@supervisor_page
def floor(request: HttpRequest) -> HttpResponse:
    """The live floor: queue, coaches, flagged threads and alerts, over the socket."""
    catalogue = list(Tag.objects.filter(active=True).order_by("slug").values("slug", "name"))
    return render(request, "chat/floor.html", {"tag_catalogue": catalogue, "nav": "floor"})


# --- transcript search ---------------------------------------------------------------------


class DateInput(forms.DateInput):
    input_type = "date"


class TranscriptSearchForm(forms.Form):
    words = forms.CharField(required=False, max_length=200, label="Words in messages")
    member = forms.CharField(required=False, max_length=100, label="Member (name or username)")
    coach = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Coach")
    tag = forms.ChoiceField(required=False, label="Tag")
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *ThreadStatus.choices], label="Status"
    )
    created_from = forms.DateField(required=False, widget=DateInput, label="Created from")
    created_to = forms.DateField(required=False, widget=DateInput, label="Created to")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["coach"].choices = [("", "Any coach"), *transcripts.coach_choices()]
        self.fields["tag"].choices = [("", "Any tag"), *transcripts.tag_choices()]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("created_from"), cleaned.get("created_to")
        if start and end and start > end:
            raise forms.ValidationError("The start date is after the end date.")
        return cleaned


@supervisor_page
def transcript_list(request: HttpRequest) -> HttpResponse:
    """Search transcripts. The list shows no message text, so it is not a transcript read."""
    form = TranscriptSearchForm(request.GET)
    page = None
    rows: list[transcripts.TranscriptRow] = []
    if form.is_valid():
        paginator = Paginator(
            transcripts.transcript_search(**form.cleaned_data), TRANSCRIPTS_PER_PAGE
        )
        page = paginator.get_page(request.GET.get("page"))
        rows = transcripts.transcript_rows(list(page.object_list))
    return render(
        request,
        "chat/transcripts.html",
        {"form": form, "page": page, "rows": rows, "nav": "transcripts"},
    )


# --- one transcript ------------------------------------------------------------------------


def _load_and_record(
    request: HttpRequest, thread_id: int, action: TranscriptAction
) -> transcripts.Transcript:
    """The transcript, once its read is on record (a missing thread is a 404)."""
    try:
        transcript = transcripts.transcript_load(thread_id=thread_id)
    except Thread.DoesNotExist:
        raise Http404("No such thread.") from None
    transcript_access_record(
        user_id=request.user.pk, role=request.role, thread_id=thread_id, action=action
    )
    return transcript


@supervisor_page
def transcript_detail(request: HttpRequest, thread_id: int) -> HttpResponse:
    """One thread's whole record: messages, events, assignments and timings."""
    transcript = _load_and_record(request, thread_id, TranscriptAction.VIEW)
    return render(
        request,
        "chat/transcript.html",
        {
            "transcript": transcript,
            "thread": transcript.thread,
            "timings": transcript.timings.lines(),
            "nav": "transcripts",
        },
    )


def _attachment(response: HttpResponse, filename: str) -> HttpResponse:
    response.headers["Content-Disposition"] = content_disposition_header(True, filename)
    return response


@supervisor_page
def transcript_export_json(request: HttpRequest, thread_id: int) -> HttpResponse:
    """The transcript as a JSON download."""
    transcript = _load_and_record(request, thread_id, TranscriptAction.EXPORT)
    body = json.dumps(transcripts.transcript_json(transcript), ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    return _attachment(response, f"transcript-{thread_id}.json")


@supervisor_page
def transcript_export_csv(request: HttpRequest, thread_id: int) -> HttpResponse:
    """The transcript as a CSV download (UTF-8 with a BOM, so spreadsheets read it right)."""
    transcript = _load_and_record(request, thread_id, TranscriptAction.EXPORT)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response.write("\ufeff")
    csv.writer(response).writerows(transcripts.transcript_csv_rows(transcript))
    return _attachment(response, f"transcript-{thread_id}.csv")


# --- the audit trail -----------------------------------------------------------------------


class AccessFilterForm(forms.Form):
    user = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Who")
    thread = forms.IntegerField(required=False, min_value=1, label="Thread")
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *TranscriptAction.choices], label="Action"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].choices = [("", "Anyone"), *transcripts.access_user_choices()]


@supervisor_page
def access_list(request: HttpRequest) -> HttpResponse:
    """Who read which transcript, how and when: read-only, newest first."""
    form = AccessFilterForm(request.GET)
    page = None
    if form.is_valid():
        paginator = Paginator(
            transcripts.access_records(**form.cleaned_data), ACCESS_RECORDS_PER_PAGE
        )
        page = paginator.get_page(request.GET.get("page"))
    return render(request, "chat/access.html", {"form": form, "page": page, "nav": "access"})
