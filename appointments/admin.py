from typing import Any

from django.contrib import admin

from calls.admin import calls_named
from leads.admin import LeadSearchMixin
from reps.core.admin import When, local_time_column
from reps.core.transitions import StatusTransitionAdminMixin
from reps.tenancy.admin import TenantAdmin

from .models import Appointment
from .services import APPOINTMENT_TRANSITIONS


@admin.register(Appointment)
class AppointmentAdmin(StatusTransitionAdminMixin, LeadSearchMixin, TenantAdmin):
    list_display = (local_time_column("scheduled_time", "scheduled time"), local_time_column("end_time", "end time"),
                    "title", "lead", "staff", "status", "branch", "gym")
    # When: upcoming by default (no date hierarchy: its years and months were a pass over the table).
    list_filter = (When, "status", "gym")
    list_select_related = ("gym", "lead", "staff", "branch")
    search_fields = ("title", "lead__first_name", "lead__last_name", "lead__phone")
    autocomplete_fields = ("gym", "lead", "staff", "branch", "call")
    status_transitions = APPOINTMENT_TRANSITIONS

    def get_ordering(self, request: Any) -> Any:
        return When.ordering(request)

    def get_queryset(self, request: Any) -> Any:
        # An appointment's name has its time on its gym's clock: on its page and in the autocomplete of a
        # notification's appointment too. All of list_select_related: the list adds it only to a queryset
        # that selects nothing yet.
        return super().get_queryset(request).select_related(*self.list_select_related)

    def formfield_for_foreignkey(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if db_field.name == "call":
            kwargs["queryset"] = calls_named()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
