"""Admin for the audit trail only: transcripts are read in the supervisor pages, where
every read is recorded; the admin shows who read what, and nobody may change it."""

from django.contrib import admin

from chat.models import TranscriptAccess


@admin.register(TranscriptAccess)
class TranscriptAccessAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "role", "thread", "action"]
    list_filter = ["action", "role"]
    search_fields = ["user__username"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
