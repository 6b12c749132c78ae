from django.contrib import admin

from members.models import MemberProfile


@admin.register(MemberProfile)
class MemberProfileAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "baby_birth_date", "delivery_type", "created_at"]
    list_filter = ["delivery_type"]
    search_fields = ["display_name", "user__username", "user__email"]
    raw_id_fields = ["user"]
