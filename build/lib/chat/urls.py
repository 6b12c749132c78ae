from django.urls import path

from chat import views

app_name = "chat"
urlpatterns = [
    path("", views.floor, name="floor"),
    path("transcripts/", views.transcript_list, name="transcripts"),
    path("transcripts/<int:thread_id>/", views.transcript_detail, name="transcript"),
    path(
        "transcripts/<int:thread_id>/export.json",
        views.transcript_export_json,
        name="transcript_json",
    ),
    path(
        "transcripts/<int:thread_id>/export.csv",
        views.transcript_export_csv,
        name="transcript_csv",
    ),
    path("access/", views.access_list, name="access"),
]
