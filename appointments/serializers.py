from rest_framework import serializers

from accounts.models import User
from calls.models import CallLog
from gyms.models import Branch
from leads.models import Lead
from reps.core.api import GymRelatedField

from .models import Appointment, AppointmentStatus


class StaffField(GymRelatedField):
    def __init__(self, **kwargs):
        super().__init__(User, **kwargs)

    def get_queryset(self):
        return super().get_queryset().filter(is_active=True)


class AppointmentSerializer(serializers.ModelSerializer):
    """An appointment; its status changes through POST /appointments/{id}/status/."""

    lead = GymRelatedField(Lead)
    staff = StaffField(allow_null=True, required=False)
    branch = GymRelatedField(Branch, allow_null=True, required=False)
    call = GymRelatedField(CallLog, allow_null=True, required=False)
    end_time = serializers.DateTimeField(
        required=False, help_text="Defaults to the start plus the gym's default appointment length."
    )

    class Meta:
        model = Appointment
        fields = ["id", "lead", "staff", "branch", "call", "scheduled_time", "end_time", "title", "description",
                  "status", "created_at", "updated_at"]
        read_only_fields = ["id", "status", "created_at", "updated_at"]


class AppointmentStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(AppointmentStatus.choices)


class ConflictSerializer(serializers.Serializer):
    status = serializers.IntegerField(default=409)
    code = serializers.CharField(default="appointment_conflict")
    detail = serializers.CharField()
    conflicting_appointment = serializers.UUIDField(allow_null=True)
