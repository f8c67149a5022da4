import datetime
from typing import Any, ClassVar

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import F, Q

from gyms.models import GymSettings
from leads.querysets import LEAD_DASHBOARD
from reps.core.models import TenantModel, same_gym_key
from reps.tenancy.queryset import TenantManager

from .choices import ACTIVE_STATUSES, AppointmentStatus
from .querysets import APPOINTMENT_STATS, AppointmentQuerySet, TimeRange


class Appointment(TenantModel):
    """A tour or trial session booked with a lead, usually with a staff member."""

    # Indexed by (lead, -scheduled_time) below.
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="appointments", db_index=False)
    branch = models.ForeignKey(
        "gyms.Branch", on_delete=models.SET_NULL, null=True, blank=True, related_name="appointments"
    )
    staff = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="appointments"
    )
    scheduled_time = models.DateTimeField(db_index=True)
    end_time = models.DateTimeField(blank=True, help_text="Defaults to the gym's appointment length.")
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=AppointmentStatus.choices, default=AppointmentStatus.SCHEDULED)
    call = models.ForeignKey(
        "calls.CallLog", on_delete=models.SET_NULL, null=True, blank=True, related_name="appointments"
    )

    objects: ClassVar[Any] = TenantManager.from_queryset(AppointmentQuerySet)()

    cache_namespaces = (APPOINTMENT_STATS, LEAD_DASHBOARD)

    class Meta:
        ordering = ["scheduled_time"]
        constraints = [
            same_gym_key("appointment"),  # its notifications point at it and its gym (notifications 0001)
            models.CheckConstraint(
                condition=Q(end_time__gt=F("scheduled_time")),
                name="appointment_end_after_start",
                violation_error_message="An appointment must end after it starts.",
            ),
            # PostgreSQL itself refuses two active appointments of one staff
            # member whose [start, end) intervals overlap, so two concurrent
            # bookings cannot both win. Back-to-back ones do not overlap.
            ExclusionConstraint(
                name="appointment_staff_no_overlap",
                expressions=[
                    ("staff", RangeOperators.EQUAL),
                    (TimeRange("scheduled_time", "end_time"), RangeOperators.OVERLAPS),
                ],
                condition=Q(status__in=ACTIVE_STATUSES, staff__isnull=False),
                violation_error_code="overlap",
                violation_error_message="This staff member already has an appointment at that time.",
            ),
        ]
        indexes = [
            models.Index(fields=["gym", "status", "scheduled_time"], name="appt_gym_status_time_idx"),
            models.Index(fields=["lead", "-scheduled_time"], name="appt_lead_time_idx"),
        ]

    def __str__(self):
        return f"{self.title} at {self.time_label(self.scheduled_time)}"

    def fill_default_end_time(self):
        """Without an end, the appointment lasts the gym's default length."""
        if self.end_time is None and self.scheduled_time is not None and self.gym_id is not None:
            minutes = (
                GymSettings.objects.for_gym(self.gym_id).values_list("default_appointment_minutes", flat=True).first()
            ) or GymSettings._meta.get_field("default_appointment_minutes").default
            # In UTC: on a time-zone-aware local time, adding would move the wall clock, not real time.
            self.end_time = self.scheduled_time.astimezone(datetime.UTC) + datetime.timedelta(minutes=minutes)

    def clean_fields(self, exclude=None):
        self.fill_default_end_time()
        super().clean_fields(exclude)

    def save(self, *args, **kwargs):
        self.fill_default_end_time()
        super().save(*args, **kwargs)
