from rest_framework import serializers

from appointments.models import Appointment
from calls.models import CallLog
from gyms.models import Branch
from reps.core.api import GymRelatedField

from .models import Lead, LeadQualification, LeadStatus, LeadTag

RECENT_CALLS = 5


class LeadTagSerializer(serializers.ModelSerializer):
    class Meta:
        model = LeadTag
        fields = ["id", "name", "color", "created_at"]
        read_only_fields = ["id", "created_at"]


class LeadQualificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = LeadQualification
        fields = ["score", "interest_level", "fitness_goals", "budget", "timeline", "notes", "qualified_at"]


class LeadSerializer(serializers.ModelSerializer):
    """A lead in a list: with its tag ids and qualification score (two queries for any page)."""

    branch = GymRelatedField(Branch, allow_null=True, required=False)
    tags = GymRelatedField(LeadTag, many=True, required=False)
    status = serializers.ChoiceField(LeadStatus.choices, required=False)
    qualification_score = serializers.IntegerField(source="qualification.score", read_only=True, allow_null=True)

    class Meta:
        model = Lead
        fields = ["id", "first_name", "last_name", "email", "phone", "status", "source", "notes", "branch", "tags",
                  "do_not_call", "consent_given_at", "consent_source", "qualification_score", "engagement_score",
                  "last_interaction", "created_at", "updated_at"]
        read_only_fields = ["id", "engagement_score", "last_interaction", "created_at", "updated_at"]


class CallSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = CallLog
        fields = ["id", "start_time", "end_time", "duration", "status", "outcome", "is_ai_call"]


class AppointmentSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Appointment
        fields = ["id", "scheduled_time", "end_time", "title", "status", "staff", "branch"]


class LeadDetailSerializer(LeadSerializer):
    """A lead with its qualification, tags, recent calls and appointments (four queries)."""

    qualification = LeadQualificationSerializer(read_only=True, allow_null=True)
    tag_details = LeadTagSerializer(source="tags", many=True, read_only=True)
    recent_calls = serializers.SerializerMethodField()
    appointments = AppointmentSummarySerializer(many=True, read_only=True)

    class Meta(LeadSerializer.Meta):
        fields = LeadSerializer.Meta.fields + ["qualification", "tag_details", "recent_calls", "appointments"]

    def get_recent_calls(self, lead) -> list[dict]:
        # The calls are prefetched newest first; slicing the cache runs no query.
        return CallSummarySerializer(lead.calls.all()[:RECENT_CALLS], many=True).data



class LeadImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV with a header row: names, phone or mobile, email, source, tags...")
    on_duplicate = serializers.ChoiceField(["skip", "update"], default="skip",
                                           help_text="What to do with leads the gym has already (same phone or email).")


class ImportErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class LeadImportReportSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    skipped = serializers.IntegerField()
    errors = ImportErrorSerializer(many=True)
