from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import lookup_spawns_duplicates
from django.contrib.admin.widgets import AdminTextareaWidget
from django.db import models
from django.db.models import Q

from appointments.models import Appointment
from calls.models import CallLog
from reps.core.admin import local_time_column
from reps.core.transitions import StatusTransitionAdminMixin
from reps.tenancy.admin import ReadOnlyTenantInline, TenantAdmin, TenantInline, filtered_gym_id

from .models import Lead, LeadImport, LeadQualification, LeadTag, LeadTagAssignment
from .querysets import SearchTooLong
from .services import LEAD_TRANSITIONS


def leads_matching(request: Any, leads: Any, term: str, lead: str | None = None) -> Any:
    """The API's search (LeadQuerySet.matching), or with `lead` the condition on rows whose lead it finds
    (matching_condition); one it cannot run (too many words) is the list's "bad filter" answer, with the
    reason, not a 500."""
    try:
        return leads.matching(term) if lead is None else leads.matching_condition(term, lead)
    except SearchTooLong as error:
        messages.error(request, str(error))
        raise IncorrectLookupParameters(str(error)) from None


def leads_of_list(request: Any) -> Any:
    """The leads a platform admin list searches: its gym's when it is filtered to one (that gym's index
    entries only), every gym's otherwise."""
    gym_id = filtered_gym_id(request)
    return Lead.objects.unscoped() if gym_id is None else Lead.objects.unscoped().for_gym(gym_id)


class LeadSearchMixin(admin.ModelAdmin):
    """Finds a row by its lead the way the API's lead search does.

    The search_fields through the lead (lead__first_name, lead__phone...) are not searched as written, where
    "555-1299" finds no +12125551299: a row matches when its lead (`lead_field`) is among
    Lead.objects.matching() (the words in its name or email, or a phone fragment in any format, through the
    leads' trigram indexes). The row's own search_fields are searched too, each word in any of them
    (own_search(), which a big table's admin replaces with what its indexes find).
    """

    lead_field = "lead"

    def get_search_results(self, request: Any, queryset: Any, search_term: str) -> tuple[Any, bool]:
        if not search_term.strip():
            return queryset, False
        own = self.own_search(request, search_term)
        if not self.searches_leads(search_term):
            return queryset.filter(own), False
        by_lead = leads_matching(request, leads_of_list(request), search_term, lead=self.lead_field)
        return queryset.filter(by_lead | own), \
            any(lookup_spawns_duplicates(self.opts, field) for field in self.own_search_fields(request))

    def searches_leads(self, search_term: str) -> bool:
        """Whether the term is looked for in the leads too (not if it can only be a row's own value)."""
        return True

    def own_search_fields(self, request: Any) -> list[str]:
        return [field for field in self.get_search_fields(request) if not field.startswith(f"{self.lead_field}__")]

    def own_search(self, request: Any, search_term: str) -> Q:
        """Each word of the term in one of the row's own search fields (none: nothing)."""
        own_fields = self.own_search_fields(request)
        if not own_fields:
            return Q(pk__in=[])
        return Q(*(Q(*((f"{field}__icontains", word) for field in own_fields), _connector=Q.OR)
                   for word in search_term.split()))


class LeadQualificationInline(TenantInline):
    model = LeadQualification
    # Stacked, short fields side by side: as a table row its seven fields, two of them text areas, were
    # 2,600 px wide.
    template = "admin/edit_inline/stacked.html"
    fields = (("score", "interest_level", "qualified_at"), ("budget", "timeline"), "fitness_goals", "notes")
    formfield_overrides = {models.TextField: {"widget": AdminTextareaWidget(attrs={"rows": 3})}}


class LeadTagAssignmentInline(TenantInline):
    model = LeadTagAssignment
    autocomplete_fields = ("tag",)
    verbose_name = "tag"


class CallLogInline(ReadOnlyTenantInline):
    model = CallLog
    fields = (local_time_column("start_time", "start time"), "status", "outcome", "duration", "is_ai_call")
    ordering = ("-start_time",)

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).select_related("gym")  # its zone, for the local times


class AppointmentInline(ReadOnlyTenantInline):
    model = Appointment
    fields = (local_time_column("scheduled_time", "scheduled time"), local_time_column("end_time", "end time"),
              "title", "status")
    ordering = ("-scheduled_time",)

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).select_related("gym")


@admin.register(Lead)
class LeadAdmin(StatusTransitionAdminMixin, TenantAdmin):
    list_display = ("full_name", "phone", "email", "status", "source", "gym", "branch",
                    local_time_column("created_at", "created at"))
    # A range of creation (no date hierarchy: its years and months were a pass over every gym's leads).
    list_filter = ("status", "source", ("created_at", admin.DateFieldListFilter), "gym")
    list_select_related = ("gym", "branch")
    ordering = ("-created_at",)  # lead_created_id_idx (with the admin's -pk)
    # Searched as the API searches (get_search_results); naming them shows the search box.
    search_fields = ("first_name", "last_name", "email", "phone")
    autocomplete_fields = ("gym", "branch")
    inlines = [LeadQualificationInline, LeadTagAssignmentInline, CallLogInline, AppointmentInline]
    status_transitions = LEAD_TRANSITIONS

    def get_search_results(self, request: Any, queryset: Any, search_term: str) -> tuple[Any, bool]:
        """The API's search (LeadQuerySet.matching), which the autocompletes of other rows' leads use too.

        Django's own would look for "555-1299" in the E.164 phones as written; matching() finds any format
        of a phone fragment, and names and emails through the trigram indexes the API uses.
        """
        if not search_term.strip():
            return queryset, False
        gym_id = filtered_gym_id(request)  # then the list is that gym's: its own index entries
        return leads_matching(request, queryset if gym_id is None else queryset.for_gym(gym_id), search_term), False


@admin.register(LeadTag)
class LeadTagAdmin(TenantAdmin):
    list_display = ("name", "color", "gym")
    search_fields = ("name",)


@admin.register(LeadTagAssignment)
class LeadTagAssignmentAdmin(TenantAdmin):
    list_display = ("lead", "tag", "gym", "created_at")
    ordering = ("-created_at",)
    list_select_related = ("gym", "lead", "tag")
    autocomplete_fields = ("gym", "lead", "tag")


@admin.register(LeadQualification)
class LeadQualificationAdmin(LeadSearchMixin, TenantAdmin):
    list_display = ("lead", "score", "interest_level", "gym", "qualified_at")
    list_select_related = ("gym", "lead")
    list_filter = ("interest_level", "gym")
    ordering = ("-created_at",)
    search_fields = ("lead__first_name", "lead__last_name", "lead__email", "lead__phone")
    autocomplete_fields = ("gym", "lead")


@admin.register(LeadImport)
class LeadImportAdmin(TenantAdmin):
    """Import jobs, for platform staff to follow: read-only (a worker writes them); a finished one may be deleted."""

    list_display = ("source_name", "gym", "status", "rows_processed", "rows_total", "created_count", "error_count",
                    "attempts", "created_at", "finished_at")
    list_filter = ("status", ("created_at", admin.DateFieldListFilter), "gym")
    list_select_related = ("gym",)
    search_fields = ("source_name",)
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
