from django.contrib import admin

from appointments.models import Appointment
from calls.models import CallLog
from reps.tenancy.admin import ReadOnlyTenantInline, TenantAdmin, TenantInline

from .models import Lead, LeadQualification, LeadTag, LeadTagAssignment


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
