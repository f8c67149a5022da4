from django.contrib import admin

from reps.tenancy.admin import TenantAdmin

from .models import Appointment


@admin.register(Appointment)
class AppointmentAdmin(TenantAdmin):
    list_display = ("scheduled_time", "end_time", "title", "lead", "staff", "status", "branch", "gym")
    list_filter = ("status", "gym")
    list_select_related = ("gym", "lead", "staff", "branch")
    search_fields = ("title", "lead__first_name", "lead__last_name", "lead__phone")
    autocomplete_fields = ("gym", "lead", "staff", "branch", "call")
    date_hierarchy = "scheduled_time"
