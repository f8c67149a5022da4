from typing import Any

from django.contrib import admin
from django.db.models import F, Q

from leads.admin import LeadSearchMixin
from reps.core.admin import READABLE_JSON, CallWhen, local_time_column
from reps.core.transitions import StatusTransitionAdminMixin
from reps.tenancy.admin import BoundedListAdmin, TenantAdmin, TenantInline

from .models import CallLog, CallTranscript, Campaign, VoiceWebhookEvent
from .services import CALL_TRANSITIONS

# The voice platform's call ids ("call_" and 32 hex digits): a term like one is not a lead's name or phone
# (its digits would match phones).
PLATFORM_CALL_ID_PREFIX = "call_"


def platform_id_search(field: str, search_term: str) -> Q:
    """Calls whose voice-platform id is the term or begins with it (one word): through the id's unique
    index (its pattern operator class, calls migration 0007), not a pass over every call."""
    term = search_term.strip()
    if not term or len(term.split()) != 1:
        return Q(pk__in=[])
    return Q(**{field: term}) | Q(**{f"{field}__startswith": term})


class PlatformIdSearchMixin(LeadSearchMixin):
    """A call's rows found by their lead (LeadSearchMixin) or by the call's platform id (`platform_id_field`);
    a term like a platform id is searched as one only."""

    platform_id_field = "retell_call_id"

    def own_search(self, request: Any, search_term: str) -> Q:
        return platform_id_search(self.platform_id_field, search_term)

    def searches_leads(self, search_term: str) -> bool:
        return not search_term.strip().startswith(PLATFORM_CALL_ID_PREFIX)


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
class CallLogAdmin(StatusTransitionAdminMixin, PlatformIdSearchMixin, TenantAdmin):
    list_display = (local_time_column("start_time", "start time"), "lead", "status", "outcome", "duration",
                    "is_ai_call", "campaign", "gym")
    # When: a range of start (no date hierarchy: its years and months were a pass over 5,000,000 calls).
    list_filter = (CallWhen, "status", "outcome", "is_ai_call", "gym")
    list_select_related = ("gym", "lead", "campaign")
    # Newest first; calls not started yet (no start time) after them, as a lead's page lists its calls.
    # (Django takes expressions here; its type stubs do not say so.)
    ordering = (F("start_time").desc(nulls_last=True), "-created_at")  # type: ignore[assignment]
    search_fields = ("retell_call_id", "lead__first_name", "lead__last_name", "lead__phone")
    search_help_text = ("The lead's name, email or phone in any format, or the voice platform's call id (or its"
                        " beginning). Filter by a gym first to search only its calls.")
    autocomplete_fields = ("gym", "lead", "campaign")
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
class CallTranscriptAdmin(PlatformIdSearchMixin, TenantAdmin):
    list_display = ("call", "gym", "created_at")
    list_select_related = ("gym", "call__lead", "call__gym")  # the call's name
    ordering = ("-created_at",)
    # Found by their call, not by their words: a LIKE over every transcript's text read 300,000 of them
    # (2.3 s at generate_data's size); a call's page shows its transcript.
    lead_field, platform_id_field = "call__lead", "call__retell_call_id"
    search_fields = ("call__retell_call_id", "call__lead__first_name", "call__lead__last_name",
                     "call__lead__phone")
    search_help_text = "The call's lead (name, email or phone in any format) or the voice platform's call id."
    formfield_overrides = READABLE_JSON
    autocomplete_fields = ("gym", "call")

    def formfield_for_foreignkey(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if db_field.name == "call":
            kwargs["queryset"] = calls_named()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(VoiceWebhookEvent)
class VoiceWebhookEventAdmin(BoundedListAdmin):
    """Every event the voice platform sent (three a call); unmatched ones wait here for review."""

    list_display = ("received_at", "event", "platform_call_id", "status", "gym", "call_log")
    list_filter = ("status", "event")
    list_select_related = ("gym", "call_log__lead", "call_log__gym")  # the call's name
    ordering = ("-id",)  # the newest first, by the primary key's index (ids are given in order of arrival)
    search_fields = ("platform_call_id",)
    search_help_text = "The voice platform's call id, or its beginning."
    readonly_fields = ("received_at", "platform_call_id", "event", "payload", "gym", "call_log", "status")

    def get_search_results(self, request: Any, queryset: Any, search_term: str) -> tuple[Any, bool]:
        # The id or its beginning, through the (platform_call_id, event) unique index: the id as given
        # in any collation, its beginning where the database's collation is C (as `make` creates it).
        if not search_term.strip():
            return queryset, False
        return queryset.filter(platform_id_search("platform_call_id", search_term)), False
