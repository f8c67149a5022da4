from typing import Any

from django.contrib import admin

from appointments.models import Appointment
from calls.models import CallLog
from reps.tenancy.admin import ReadOnlyTenantInline, TenantAdmin, TenantInline

from .models import Lead, LeadImport, LeadQualification, LeadTag, LeadTagAssignment


class LeadQualificationInline(TenantInline):
    model = LeadQualification


class LeadTagAssignmentInline(TenantInline):
    model = LeadTagAssignment
    autocomplete_fields = ("tag",)
    verbose_name = "tag"


class CallLogInline(ReadOnlyTenantInline):
    model = CallLog
    fields = ("start_time", "status", "outcome", "duration", "is_ai_call")
    ordering = ("-start_time",)


class AppointmentInline(ReadOnlyTenantInline):
    model = Appointment
    fields = ("scheduled_time", "end_time", "title", "status")
    ordering = ("-scheduled_time",)


@admin.register(Lead)
class LeadAdmin(TenantAdmin):
    list_display = ("full_name", "phone", "email", "status", "source", "gym", "branch", "created_at")
    list_filter = ("status", "source", "gym")
    list_select_related = ("gym", "branch")
    search_fields = ("first_name", "last_name", "email", "phone")
    autocomplete_fields = ("gym", "branch")
    date_hierarchy = "created_at"
    inlines = [LeadQualificationInline, LeadTagAssignmentInline, CallLogInline, AppointmentInline]


@admin.register(LeadTag)
class LeadTagAdmin(TenantAdmin):
    list_display = ("name", "color", "gym")
    search_fields = ("name",)


@admin.register(LeadTagAssignment)
class LeadTagAssignmentAdmin(TenantAdmin):
    list_display = ("lead", "tag", "gym", "created_at")
    list_select_related = ("gym", "lead", "tag")
    autocomplete_fields = ("gym", "lead", "tag")


@admin.register(LeadQualification)
class LeadQualificationAdmin(TenantAdmin):
    list_display = ("lead", "score", "interest_level", "gym", "qualified_at")
    list_select_related = ("gym", "lead")
    list_filter = ("interest_level", "gym")
    search_fields = ("lead__first_name", "lead__last_name", "lead__phone")
    autocomplete_fields = ("gym", "lead")


@admin.register(LeadImport)
class LeadImportAdmin(TenantAdmin):
    """Import jobs, for platform staff to follow: read-only (a worker writes them); a finished one may be deleted."""

    list_display = ("source_name", "gym", "status", "rows_processed", "rows_total", "created_count", "error_count",
                    "attempts", "created_at", "finished_at")
    list_filter = ("status", "gym")
    list_select_related = ("gym",)
    search_fields = ("source_name",)
    date_hierarchy = "created_at"
    # The file itself (up to 10 MB of leads' details) is not shown.
    exclude = ("text",)

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).defer("text", "report")

    def get_readonly_fields(self, request: Any, obj: Any = None) -> Any:
        return [field.name for field in self.model._meta.fields if field.name != "text"]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return obj is None or obj.status in ("done", "failed")
