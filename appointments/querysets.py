from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.utils import timezone

from reps.core.querysets import TenantQuerySet

# The statuses in which an appointment holds its staff member's time.
ACTIVE_STATUSES = ("scheduled", "confirmed")


class AppointmentQuerySet(TenantQuerySet):
    def active(self):
        return self.filter(status__in=ACTIVE_STATUSES)

    def upcoming(self, limit=20):
        """Scheduled or confirmed appointments still to come, soonest first."""
        return (
            self.active()
            .filter(scheduled_time__gt=timezone.now())
            .select_related("lead", "staff", "branch")
            .order_by("scheduled_time", "id")[:limit]
        )

    def for_lead(self, lead):
        lead_id = getattr(lead, "pk", lead)
        return self.filter(lead_id=lead_id).order_by("-scheduled_time")

    def conflicts(self, staff, start, end, exclude_id=None):
        """Active appointments of `staff` overlapping [start, end).

        Half-open, exactly like the database's exclusion constraint:
        an appointment ending at `start` or starting at `end` is no conflict.
        """
        from appointments.models import TimeRange

        staff_id = getattr(staff, "pk", staff)
        # The same overlap test as the exclusion constraint, so its GiST index answers it.
        queryset = (
            self.active()
            .filter(staff_id=staff_id)
            .alias(span=TimeRange("scheduled_time", "end_time"))
            .filter(span__overlap=DateTimeTZRange(start, end, "[)"))
        )
        if exclude_id is not None:
            queryset = queryset.exclude(pk=exclude_id)
        return queryset.order_by("scheduled_time")

    def has_conflict(self, staff, start, end, exclude_id=None):
        if staff is None:
            return False
        return self.conflicts(staff, start, end, exclude_id).exists()

    def stats(self, start_date, end_date):
        """{status: appointments scheduled in [start_date, end_date]} in the gym's local days."""
        from appointments.models import AppointmentStatus

        return self.count_by_status("scheduled_time", start_date, end_date, AppointmentStatus.values)
