from django.contrib import admin
from django.db import transaction

from coaches.models import CannedReply, CoachProfile
from routing.actions.assignment import assign_waiting


@admin.register(CoachProfile)
class CoachProfileAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "status", "capacity", "last_assigned_at"]
    list_filter = ["status", "specialties"]
    search_fields = ["display_name", "user__username"]
    filter_horizontal = ["specialties"]
    raw_id_fields = ["user"]
    readonly_fields = ["status_changed_at", "last_assigned_at", "disconnected_at"]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        # More capacity may match her with a queued thread right away.
        transaction.on_commit(assign_waiting)


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    list_display = ["title", "active", "sort_order"]
    list_editable = ["active", "sort_order"]
    search_fields = ["title", "body"]
