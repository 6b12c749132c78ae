from django import forms
from django.contrib import admin

from routing.models import Assignment, Tag, TriageRule
from routing.triage import PhraseError, parse_phrase


class TriageRuleForm(forms.ModelForm):
    """Refuses a phrase the triage engine cannot read, instead of skipping it silently."""

    class Meta:
        model = TriageRule
        fields = ["tag", "phrase", "kind", "negatable", "active", "note"]

    def clean_phrase(self) -> str:
        phrase = self.cleaned_data["phrase"]
        try:
            parse_phrase(phrase)
        except PhraseError as error:
            raise forms.ValidationError(str(error)) from None
        return phrase


class TriageRuleInline(admin.TabularInline):
    model = TriageRule
    form = TriageRuleForm
    extra = 1
    fields = ["phrase", "kind", "negatable", "active", "note"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "priority", "is_red_flag", "active"]
    list_filter = ["priority", "is_red_flag", "active"]
    search_fields = ["slug", "name"]
    inlines = [TriageRuleInline]

    def get_readonly_fields(self, request, obj=None):
        # Slugs are part of the wire protocol: fixed once created.
        return ["slug"] if obj is not None else []


@admin.register(TriageRule)
class TriageRuleAdmin(admin.ModelAdmin):
    form = TriageRuleForm
    list_display = ["phrase", "tag", "kind", "negatable", "active", "updated_at"]
    list_filter = ["tag", "kind", "active"]
    search_fields = ["phrase", "note"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["thread", "from_coach", "to_coach", "reason", "actor", "created_at"]
    list_filter = ["reason"]
    raw_id_fields = ["thread", "from_coach", "to_coach", "actor"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
