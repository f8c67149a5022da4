from typing import Any

from rest_framework import serializers

from leads.models import Lead
from reps.core.serializers import MomentField, StrictModelSerializer, StrictSerializer
from reps.tenancy.api import GymRelatedField

from .choices import CallStatus
from .models import CallLog, CallTranscript, Campaign


class CampaignSerializer(StrictModelSerializer):
    class Meta:
        model = Campaign
        fields = ["id", "name", "description", "status", "starts_on", "ends_on", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class CallTranscriptSerializer(StrictModelSerializer):
    class Meta:
        model = CallTranscript
        fields = ["content", "utterances", "created_at"]


class CallLogSerializer(StrictModelSerializer):
    """A call; its status changes through POST /calls/{id}/status/."""

    read_only_hints = {"status": "POST /api/v1/calls/{id}/status/"}
    lead = GymRelatedField(Lead)
    campaign = GymRelatedField(Campaign, allow_null=True, required=False)
    recording_url = serializers.CharField(read_only=True, help_text="The recording's address; empty when none.")

    class Meta:
        model = CallLog
        fields = ["id", "lead", "campaign", "start_time", "end_time", "duration", "status", "outcome", "notes",
                  "is_ai_call", "retell_call_id", "direction", "from_number", "to_number", "disconnection_reason",
                  "recording_url", "summary", "sentiment", "analysis", "dispatched_at", "created_at", "updated_at"]
        read_only_fields = ["id", "status", "retell_call_id", "direction", "from_number", "to_number",
                            "disconnection_reason", "recording_url", "summary", "sentiment", "analysis",
                            "dispatched_at", "created_at", "updated_at"]


    def validate_is_ai_call(self, value: bool) -> bool:
        # A call made here is a manual record: only the queue's calls are placed by the agent.
        if value != (self.instance.is_ai_call if self.instance is not None else False):
            raise serializers.ValidationError("AI calls are queued with POST /api/v1/calls/queue/; a call recorded"
                                              " here is a manual one, and an AI call stays one.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None and self.instance.is_ai_call:
            moved = [name for name in ("lead", "start_time") if name in attrs
                     and attrs[name] != getattr(self.instance, name)]
            if moved:  # the queue checked consent, attempts and hours for this lead at this time
                raise serializers.ValidationError({name: "An AI call keeps its lead and time: queue another call"
                                                         " (POST /api/v1/calls/queue/)." for name in moved})
        return attrs


class CallLogDetailSerializer(CallLogSerializer):
    transcript = CallTranscriptSerializer(read_only=True, allow_null=True)

    class Meta(CallLogSerializer.Meta):
        fields = CallLogSerializer.Meta.fields + ["transcript"]


class CallStatusSerializer(StrictSerializer):
    status = serializers.ChoiceField(CallStatus.choices)


class CallMetricsSerializer(StrictSerializer):
    total_calls = serializers.IntegerField()
    avg_duration = serializers.IntegerField(help_text="Seconds, over calls with a duration.")
    outcomes = serializers.DictField(child=serializers.IntegerField())


class QueueCallsSerializer(StrictSerializer):
    leads = GymRelatedField(Lead, many=True, required=False, help_text="The leads to call.")
    campaign = GymRelatedField(Campaign, required=False, help_text="Or: every open lead, for this campaign.")
    at = MomentField(required=False, help_text="Not before this time (default: now).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("leads")) == bool(attrs.get("campaign")):
            raise serializers.ValidationError("Give either leads or a campaign.")
        return attrs


class SkippedLeadSerializer(StrictSerializer):
    lead = serializers.UUIDField()
    reason = serializers.CharField()


class QueueReportSerializer(StrictSerializer):
    queued = serializers.ListField(child=serializers.UUIDField(), help_text="The queued calls' ids.")
    skipped = SkippedLeadSerializer(many=True)
    start_time = serializers.DateTimeField(help_text="When the calls will be placed, within calling hours.")
