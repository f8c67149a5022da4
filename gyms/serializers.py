from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reps.core.serializers import StrictModelSerializer

from .models import (
    AISettings,
    Branch,
    Gym,
    GymSettings,
    KnowledgeBaseEntry,
    VoiceSettings,
)


@extend_schema_field({"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2})?$", "example": "09:00",
                     "description": "A wall-clock time in the gym's time zone (HH:MM), without an offset."})
class LocalTimeField(serializers.TimeField):
    """A time of day in the gym's zone: OpenAPI's "time" format would demand a UTC offset."""


class GymSettingsSerializer(StrictModelSerializer):
    calling_hours_start = LocalTimeField(required=False)
    calling_hours_end = LocalTimeField(required=False)
    quiet_hours_start = LocalTimeField(required=False)
    quiet_hours_end = LocalTimeField(required=False)

    class Meta:
        model = GymSettings
        fields = ["default_appointment_minutes", "calling_hours_start", "calling_hours_end", "max_call_attempts",
                  "no_show_grace_minutes", "email_notifications", "sms_notifications", "reminder_minutes_before",
                  "quiet_hours_start", "quiet_hours_end"]


class AISettingsSerializer(StrictModelSerializer):
    class Meta:
        model = AISettings
        fields = ["is_enabled", "agent_id", "agent_version", "persona_name", "greeting", "instructions", "qualification_questions",
                  "max_call_minutes"]


class VoiceSettingsSerializer(StrictModelSerializer):
    class Meta:
        model = VoiceSettings
        fields = ["voice_id", "language", "speaking_rate", "voicemail_message"]


class GymSerializer(StrictModelSerializer):
    """The caller's own gym with its settings; each part can be updated on its own."""

    settings = GymSettingsSerializer(required=False)
    ai_settings = AISettingsSerializer(required=False)
    voice_settings = VoiceSettingsSerializer(required=False)

    class Meta:
        model = Gym
        fields = ["id", "name", "description", "email", "phone", "website", "timezone", "country_code",
                  "settings", "ai_settings", "voice_settings", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class BranchSerializer(StrictModelSerializer):
    class Meta:
        model = Branch
        fields = ["id", "name", "address", "city", "state", "zip_code", "phone", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class KnowledgeBaseEntrySerializer(StrictModelSerializer):
    class Meta:
        model = KnowledgeBaseEntry
        fields = ["id", "title", "content", "category", "is_active", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
