from django.contrib import admin

from reps.tenancy.admin import TenantAdmin, TenantInline

from .models import CallLog, CallTranscript, Campaign, VoiceWebhookEvent


@admin.register(Campaign)
class CampaignAdmin(TenantAdmin):
    list_display = ("name", "gym", "status", "starts_on", "ends_on")
    list_filter = ("status", "gym")
    search_fields = ("name",)


class CallTranscriptInline(TenantInline):
    model = CallTranscript


@admin.register(CallLog)
class CallLogAdmin(TenantAdmin):
    list_display = ("start_time", "lead", "status", "outcome", "duration", "is_ai_call", "campaign", "gym")
    list_filter = ("status", "outcome", "is_ai_call", "gym")
    list_select_related = ("gym", "lead", "campaign")
    search_fields = ("retell_call_id", "lead__first_name", "lead__last_name", "lead__phone")
    autocomplete_fields = ("gym", "lead", "campaign")
    date_hierarchy = "start_time"
    inlines = [CallTranscriptInline]


@admin.register(CallTranscript)
class CallTranscriptAdmin(TenantAdmin):
    list_display = ("call", "gym", "created_at")
    list_select_related = ("gym", "call")
    search_fields = ("content", "call__retell_call_id")
    autocomplete_fields = ("gym", "call")


@admin.register(VoiceWebhookEvent)
class VoiceWebhookEventAdmin(admin.ModelAdmin):
    """Every event the voice platform sent; unmatched ones wait here for review."""

    list_display = ("received_at", "event", "platform_call_id", "status", "gym", "call_log")
    list_filter = ("status", "event")
    list_select_related = ("gym", "call_log")
    search_fields = ("platform_call_id",)
    readonly_fields = ("received_at", "platform_call_id", "event", "payload", "gym", "call_log", "status")
