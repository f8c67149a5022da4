from django.contrib import admin

from reps.core.cache import everything, invalidate_after
from reps.tenancy.admin import BoundedListAdmin, TenantAdmin

from .models import (
    AISettings,
    Branch,
    Gym,
    GymSettings,
    KnowledgeBaseEntry,
    VoiceSettings,
)
from .services import ensure_gym_settings


class GymSettingsInline(admin.StackedInline):
    model = GymSettings


class AISettingsInline(admin.StackedInline):
    model = AISettings


class VoiceSettingsInline(admin.StackedInline):
    model = VoiceSettings


@admin.register(Gym)
class GymAdmin(BoundedListAdmin):
    list_display = ("name", "email", "phone", "timezone", "country_code", "is_active", "created_at")
    list_filter = ("is_active", "country_code")
    search_fields = ("name", "email", "phone")
    inlines = [GymSettingsInline, AISettingsInline, VoiceSettingsInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # A gym added without filling the settings inlines still gets them.
        ensure_gym_settings(form.instance)
        # Its time zone or settings may have changed every figure.
        invalidate_after(form.instance.pk, everything())


@admin.register(Branch)
class BranchAdmin(TenantAdmin):
    list_display = ("name", "gym", "city", "state", "phone")
    search_fields = ("name", "city", "gym__name")


@admin.register(GymSettings)
class GymSettingsAdmin(TenantAdmin):
    list_display = ("gym", "default_appointment_minutes", "calling_hours_start", "calling_hours_end")
    ordering = ("gym__name",)


@admin.register(AISettings)
class AISettingsAdmin(TenantAdmin):
    list_display = ("gym", "is_enabled", "agent_id", "persona_name")
    ordering = ("gym__name",)


@admin.register(VoiceSettings)
class VoiceSettingsAdmin(TenantAdmin):
    list_display = ("gym", "voice_id", "language", "speaking_rate")
    ordering = ("gym__name",)


@admin.register(KnowledgeBaseEntry)
class KnowledgeBaseEntryAdmin(TenantAdmin):
    list_display = ("title", "gym", "category", "is_active", "updated_at")
    list_filter = ("is_active", "gym")
    search_fields = ("title", "content")
