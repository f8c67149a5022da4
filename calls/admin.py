from typing import Any

from django.contrib import admin
from django.db.models import F

from leads.admin import LeadSearchMixin
from reps.core.admin import READABLE_JSON, local_time_column
from reps.core.transitions import StatusTransitionAdminMixin
from reps.tenancy.admin import TenantAdmin, TenantInline

from .models import CallLog, CallTranscript, Campaign, VoiceWebhookEvent
from .services import CALL_TRANSITIONS


def calls_named() -> Any:
    """Calls with what their names show loaded (the lead, the gym's zone): the queryset of a form's call field."""
    return CallLog.objects.unscoped().select_related("lead", "gym")


@admin.register(Campaign)
class CampaignAdmin(TenantAdmin):
    list_display = ("name", "gym", "status", "starts_on", "ends_on")
    list_filter = ("status", "gym")
    search_fields = ("name",)


class CallTranscriptInline(TenantInline):
    model = CallTranscript
    # Stacked: the conversation and its utterances are long text, too wide for a table's row.
    template = "admin/edit_inline/stacked.html"
    formfield_overrides = READABLE_JSON


@admin.register(CallLog)
class CallLogAdmin(StatusTransitionAdminMixin, LeadSearchMixin, TenantAdmin):
    list_display = (local_time_column("start_time", "start time"), "lead", "status", "outcome", "duration",
                    "is_ai_call", "campaign", "gym")
    list_filter = ("status", "outcome", "is_ai_call", "gym")
    list_select_related = ("gym", "lead", "campaign")
    # Newest first; calls not started yet (no start time) after them, as a lead's page lists its calls.
    # (Django takes expressions here; its type stubs do not say so.)
    ordering = (F("start_time").desc(nulls_last=True), "-created_at")  # type: ignore[assignment]
    search_fields = ("retell_call_id", "lead__first_name", "lead__last_name", "lead__phone")
    autocomplete_fields = ("gym", "lead", "campaign")
    date_hierarchy = "start_time"
    inlines = [CallTranscriptInline]
    status_transitions = CALL_TRANSITIONS
    status_description = "call status"  # as the API's errors say
    formfield_overrides = READABLE_JSON  # the platform's analysis

    def get_queryset(self, request: Any) -> Any:
        # A call's name is its lead's, at its gym's time: on its page and in the autocomplete of an
        # appointment's call too. All of list_select_related: the list adds it only to a queryset that
        # selects nothing yet.
        return super().get_queryset(request).select_related(*self.list_select_related)


@admin.register(CallTranscript)
class CallTranscriptAdmin(TenantAdmin):
    list_display = ("call", "gym", "created_at")
    list_select_related = ("gym", "call__lead", "call__gym")  # the call's name
    ordering = ("-created_at",)
    search_fields = ("content", "call__retell_call_id")
    formfield_overrides = READABLE_JSON
    autocomplete_fields = ("gym", "call")

    def formfield_for_foreignkey(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if db_field.name == "call":
            kwargs["queryset"] = calls_named()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(VoiceWebhookEvent)
class VoiceWebhookEventAdmin(admin.ModelAdmin):
    """Every event the voice platform sent; unmatched ones wait here for review."""

    list_display = ("received_at", "event", "platform_call_id", "status", "gym", "call_log")
    list_filter = ("status", "event")
    list_select_related = ("gym", "call_log__lead", "call_log__gym")  # the call's name
    search_fields = ("platform_call_id",)
    readonly_fields = ("received_at", "platform_call_id", "event", "payload", "gym", "call_log", "status")
