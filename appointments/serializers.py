from typing import Any

from rest_framework import serializers

from accounts.models import User
from calls.models import CallLog
from gyms.models import Branch
from leads.models import Lead
from reps.core.serializers import MomentField, StrictModelSerializer, StrictSerializer
from reps.tenancy.api import GymRelatedField

from .choices import AppointmentStatus
from .models import Appointment


class StaffField(GymRelatedField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(User, **kwargs)

    def get_queryset(self) -> Any:
        return super().get_queryset().filter(is_active=True)


class AppointmentSerializer(StrictModelSerializer):
    """An appointment; its status changes through POST /appointments/{id}/status/."""

    read_only_hints = {"status": "POST /api/v1/appointments/{id}/status/"}

    lead = GymRelatedField(Lead)
    staff = StaffField(allow_null=True, required=False, help_text=(
        "The staff member it is booked with. Left out when booking: the first sales person free at that time"
        " (a 400 naming staff when nobody is); null: nobody."))
    branch = GymRelatedField(Branch, allow_null=True, required=False)
    call = GymRelatedField(CallLog, allow_null=True, required=False)
    scheduled_time = MomentField()
    end_time = MomentField(
        required=False, help_text="Defaults to the start plus the gym's default appointment length."
    )

    class Meta:
        model = Appointment
        fields = ["id", "lead", "staff", "branch", "call", "scheduled_time", "end_time", "title", "description",
                  "status", "created_at", "updated_at"]
        read_only_fields = ["id", "status", "created_at", "updated_at"]


class AppointmentStatusSerializer(StrictSerializer):
    status = serializers.ChoiceField(AppointmentStatus.choices)


class ConflictSerializer(StrictSerializer):
    status = serializers.IntegerField(default=409)
    code = serializers.CharField(default="appointment_conflict")
    detail = serializers.CharField()
    conflicting_appointment = serializers.UUIDField(allow_null=True)
