from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from appointments.models import Appointment
from calls.models import CallLog
from gyms.models import Branch
from reps.core.serializers import StrictModelSerializer, StrictSerializer
from reps.tenancy.api import GymRelatedField

from .choices import ImportStatus, LeadStatus, OnDuplicate
from .models import Lead, LeadImport, LeadQualification, LeadTag

RECENT_CALLS = 5


class LeadTagSerializer(StrictModelSerializer):
    class Meta:
        model = LeadTag
        fields = ["id", "name", "color", "created_at"]
        read_only_fields = ["id", "created_at"]


class LeadQualificationSerializer(StrictModelSerializer):
    class Meta:
        model = LeadQualification
        fields = ["score", "interest_level", "fitness_goals", "budget", "timeline", "notes", "qualified_at"]


class LeadSerializer(StrictModelSerializer):
    """A lead in a list: with its tag ids and qualification score (two queries for any page).

    A new lead starts as new; its status changes through POST /leads/{id}/status/.
    """

    read_only_hints = {"status": "POST /api/v1/leads/{id}/status/", "do_not_call": "POST /api/v1/leads/{id}/consent/",
                       "consent_given_at": "POST /api/v1/leads/{id}/consent/",
                       "consent_source": "POST /api/v1/leads/{id}/consent/"}

    branch = GymRelatedField(Branch, allow_null=True, required=False)
    tags = GymRelatedField(LeadTag, many=True, required=False, annotated_ids="tag_ids")
    status = serializers.ChoiceField(LeadStatus.choices, read_only=True)
    qualification_score = serializers.SerializerMethodField()

    class Meta:
        model = Lead
        fields = ["id", "first_name", "last_name", "email", "phone", "status", "source", "notes", "branch", "tags",
                  "do_not_call", "consent_given_at", "consent_source", "qualification_score", "engagement_score",
                  "last_interaction", "created_at", "updated_at"]
        read_only_fields = ["id", "status", "do_not_call", "consent_given_at", "consent_source", "engagement_score",
                            "last_interaction", "created_at", "updated_at"]


    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_qualification_score(self, lead: Lead) -> int | None:
        if hasattr(lead, "qualification_score"):  # a list's page (LeadQuerySet.for_list)
            return lead.qualification_score
        qualification = getattr(lead, "qualification", None)  # None when the lead has none
        return qualification.score if qualification is not None else None


class LeadStatusSerializer(StrictSerializer):
    status = serializers.ChoiceField(LeadStatus.choices)


class LeadConsentSerializer(StrictSerializer):
    consent = serializers.BooleanField(help_text="true: the lead agreed to AI calls; false: the lead asked not to be"
                                                 " called (do not call).")
    via = serializers.CharField(required=False, allow_blank=True, max_length=255,
                                help_text="How the lead agreed: a web form, a call, in person. Required with true.")


class CallSummarySerializer(StrictModelSerializer):
    class Meta:
        model = CallLog
        fields = ["id", "start_time", "end_time", "duration", "status", "outcome", "is_ai_call"]


class AppointmentSummarySerializer(StrictModelSerializer):
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

    def get_recent_calls(self, lead: Lead) -> Any:
        # The calls are prefetched newest first; slicing the cache runs no query.
        return CallSummarySerializer(lead.calls.all()[:RECENT_CALLS], many=True).data

class LeadImportSerializer(StrictSerializer):
    file = serializers.FileField(help_text="CSV with a header row: names, phone or mobile, email, source, tags...")
    on_duplicate = serializers.ChoiceField(OnDuplicate.choices, default="skip",
                                           help_text="What to do with leads the gym has already (same phone or email).")


class ImportErrorSerializer(StrictSerializer):
    line = serializers.IntegerField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))  # type: ignore[assignment]


class LeadImportReportSerializer(StrictSerializer):
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    skipped = serializers.IntegerField()
    errors = ImportErrorSerializer(many=True)  # type: ignore[assignment]
    complete = serializers.BooleanField(help_text="False when the import ran out of time (IMPORT_MAX_SECONDS).")
    stopped_after_line = serializers.IntegerField(
        required=False, help_text="When not complete: the rows after this line were not read; send the file again.")
    detail = serializers.CharField(required=False)


class LeadImportJobSerializer(StrictModelSerializer):
    """An import job (a file of more than LEAD_IMPORT_ASYNC_ROWS rows): its state, progress and counts.

    queued -> running -> done (or failed, with `error`); `rows_processed` of `rows_total` grows after each batch.
    """

    status = serializers.ChoiceField(ImportStatus.choices, read_only=True)
    file_name = serializers.CharField(source="source_name", read_only=True)
    created = serializers.IntegerField(source="created_count", read_only=True)
    updated = serializers.IntegerField(source="updated_count", read_only=True)
    skipped = serializers.IntegerField(source="skipped_count", read_only=True)
    error_rows = serializers.IntegerField(source="error_count", read_only=True, help_text="Rows with errors.")
    url = serializers.SerializerMethodField(help_text="This job: GET it for its progress and, when done, its report.")

    class Meta:
        model = LeadImport
        fields = ["id", "url", "status", "file_name", "on_duplicate", "rows_total", "rows_processed", "created",
                  "updated", "skipped", "error_rows", "error", "created_by", "created_at", "started_at", "finished_at"]
        read_only_fields = fields

    def get_url(self, job: LeadImport) -> str:
        path = reverse("v1:lead-import-detail", args=[job.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class LeadImportJobReportSerializer(LeadImportReportSerializer):
    errors_truncated = serializers.BooleanField(
        help_text="More rows had errors than the report keeps (LEAD_IMPORT_REPORT_MAX_ERRORS); `errors` of the"
                  " job's `error_rows` counts them all.")


class LeadImportJobDetailSerializer(LeadImportJobSerializer):
    """An import job with, once done, its per-row report (the synchronous import's answer)."""

    report = LeadImportJobReportSerializer(read_only=True, allow_null=True)

    class Meta(LeadImportJobSerializer.Meta):
        fields = [*LeadImportJobSerializer.Meta.fields, "report"]
        read_only_fields = fields
