"""The appointments' repository: AppointmentQuerySet and the (cached) appointment repository."""

import datetime
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import DateTimeRangeField
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.db.models import Func
from django.utils import timezone

from reps.core import cache
from reps.core.repositories import CachedRepository, Repository
from reps.tenancy.queryset import TenantQuerySet
from reps.tenancy.replica import on_replica

from .choices import ACTIVE_STATUSES, AppointmentStatus

APPOINTMENT_STATS = cache.namespace("appointment_stats", 600)


class TimeRange(Func):
    """tstzrange(start, end, '[)'): the half-open interval [start, end)."""

    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class AppointmentQuerySet(TenantQuerySet):
    def active(self) -> "AppointmentQuerySet":
        return self.filter(status__in=ACTIVE_STATUSES)

    def upcoming(self, limit: int = 20) -> "AppointmentQuerySet":
        """Scheduled or confirmed appointments still to come, soonest first."""
        return (
            self.active()
            .filter(scheduled_time__gt=timezone.now())
            .select_related("lead", "staff", "branch")
            .order_by("scheduled_time", "id")[:limit]
        )

    def for_lead(self, lead: Any) -> "AppointmentQuerySet":
        lead_id = getattr(lead, "pk", lead)
        return self.filter(lead_id=lead_id).order_by("-scheduled_time")

    def conflicts(self, staff: Any, start: datetime.datetime, end: datetime.datetime,
                  exclude_id: Any = None) -> "AppointmentQuerySet":
        """Active appointments of `staff` overlapping [start, end).

        Half-open, exactly like the database's exclusion constraint:
        an appointment ending at `start` or starting at `end` is no conflict.
        """
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

    def has_conflict(self, staff: Any, start: datetime.datetime, end: datetime.datetime,
                     exclude_id: Any = None) -> bool:
        if staff is None:
            return False
        return self.conflicts(staff, start, end, exclude_id).exists()

    def stats(self, start_date: datetime.date | str, end_date: datetime.date | str) -> dict[str, int]:
        """{status: appointments scheduled in [start_date, end_date]} in the gym's local days."""
        return self.count_by_status("scheduled_time", start_date, end_date, AppointmentStatus.values)


class AppointmentRepository(Repository):
    model_label = "appointments.Appointment"

    def upcoming(self, limit: int = 20) -> list[Any]:
        return list(self.objects.upcoming(limit))

    @on_replica
    def stats(self, start_date: datetime.date | str, end_date: datetime.date | str) -> dict[str, int]:
        return self.objects.stats(start_date, end_date)


class CachedAppointmentRepository(CachedRepository, AppointmentRepository):
    def stats(self, start_date: datetime.date | str, end_date: datetime.date | str) -> dict[str, int]:
        return self.cached(APPOINTMENT_STATS, {"start": start_date, "end": end_date},
                           lambda: AppointmentRepository.stats(self, start_date, end_date))


def appointment_repository(gym: Any) -> AppointmentRepository:
    """The gym's appointment repository: the cached one when settings.USE_CACHED_REPOSITORIES is on."""
    return (CachedAppointmentRepository if settings.USE_CACHED_REPOSITORIES else AppointmentRepository)(gym)
