from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from accounts.models import LoginThrottle
from accounts.roles import role_of
from coaches.models import CoachProfile
from members.models import MemberProfile


class MemberProfileInline(admin.StackedInline):
    model = MemberProfile
    can_delete = False
    extra = 0
    max_num = 1


class CoachProfileInline(admin.StackedInline):
    model = CoachProfile
    can_delete = False
    extra = 0
    max_num = 1
    filter_horizontal = ["specialties"]
    readonly_fields = ["status_changed_at", "last_assigned_at", "disconnected_at"]


class PeopleAdmin(UserAdmin):
    """Users with their role: a member or coach profile inline; staff are supervisors."""

    inlines = [MemberProfileInline, CoachProfileInline]
    list_display = ["username", "first_name", "last_name", "role", "is_active", "is_staff"]
    list_filter = ["is_active", "is_staff", "is_superuser", "groups"]

    @admin.display(description="role")
    def role(self, user) -> str:
        role = role_of(user)
        return role.value if role else "—"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("member_profile", "coach_profile")


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), PeopleAdmin)


@admin.register(LoginThrottle)
class LoginThrottleAdmin(admin.ModelAdmin):
    """Staff can see locked accounts and unlock one by deleting its row."""

    list_display = ["username", "failures", "last_failure_at", "locked_until"]
    search_fields = ["username"]
    readonly_fields = ["username", "failures", "last_failure_at", "locked_until"]

    def has_add_permission(self, request):
        return False
