"""The calls' repository: CallLogQuerySet and the (cached) call repository."""

import datetime
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import Count, F, Sum
from django.utils import timezone

from reps.core import cache
from reps.core.dates import local_day_bounds
from reps.core.repositories import CachedRepository, Repository
from reps.tenancy.queryset import TenantQuerySet
from reps.tenancy.replica import on_replica, reads_alias

from .choices import CallOutcome, CallStatus

CALL_METRICS = cache.namespace("call_metrics", 600)


class CampaignQuerySet(TenantQuerySet):
    pass


class CallLogQuerySet(TenantQuerySet):
    def upcoming(self, limit: int = 20) -> "CallLogQuerySet":
        """Scheduled calls still to come, soonest first, with their leads."""
        return (
            self.filter(status=CallStatus.SCHEDULED, start_time__gt=timezone.now())
            .select_related("lead")
            .order_by("start_time", "id")[:limit]
        )

    def with_transcript(self) -> "CallLogQuerySet":
        return self.select_related("transcript")

    def for_lead(self, lead: Any) -> "CallLogQuerySet":
        """The lead's calls, newest first; calls not yet timed come first."""
        lead_id = getattr(lead, "pk", lead)
        return self.filter(lead_id=lead_id).order_by(F("start_time").desc(nulls_first=True), "-created_at")

    def metrics(self, start_date: datetime.date | str, end_date: datetime.date | str) -> dict[str, Any]:
        """Calls started in [start_date, end_date] (the gym's local days), in one query.

        {"total_calls": n, "avg_duration": whole seconds over calls with a
        duration (0 when none), "outcomes": {every outcome: count}}. One pass
        grouped by outcome over the covering (gym, start_time) index.
        """
        start, end = local_day_bounds(start_date, end_date, self.scoped_gym().timezone)
        rows = (
            self.filter(start_time__gte=start, start_time__lt=end)
            .order_by()
            .values_list("outcome")
            # COUNT(*), not COUNT(id): the id is not in the index, and the scan stays index-only.
            .annotate(calls=Count("*"), timed=Count("duration"), seconds=Sum("duration"))
        )
        return metrics_of((outcome, n, timed, seconds or 0) for outcome, n, timed, seconds in rows)

    def ai_calls_placed(self, start_date: datetime.date | str, end_date: datetime.date | str) -> int:
        """AI calls started in [start_date, end_date] (the gym's local days) that were placed: under way or
        over, answered or not, not still waiting to be dialled."""
        start, end = local_day_bounds(start_date, end_date, self.scoped_gym().timezone)
        return (self.filter(is_ai_call=True, start_time__gte=start, start_time__lt=end)
                .exclude(status=CallStatus.SCHEDULED).count())


def metrics_of(rows: Any) -> dict[str, Any]:
    """The metrics from (outcome, calls, calls with a duration, their seconds) rows, one per outcome."""
    outcomes = dict.fromkeys(CallOutcome.values, 0)
    total = timed = seconds = 0
    for outcome, n, n_timed, n_seconds in rows:
        total, timed, seconds = total + n, timed + n_timed, seconds + n_seconds
        if outcome in outcomes:
            outcomes[outcome] += n
    return {"total_calls": total, "avg_duration": seconds // timed if timed else 0, "outcomes": outcomes}


def on_a_quarter_hour(moment: datetime.datetime) -> bool:
    """Whether the moment begins a bucket (they start at every quarter of an hour in UTC)."""
    moment = moment.astimezone(datetime.UTC)
    return moment.minute % 15 == 0 and moment.second == 0 and moment.microsecond == 0


class CallRepository(Repository):
    model_label = "calls.CallLog"

    def upcoming(self, limit: int = 20) -> list[Any]:
        return list(self.objects.upcoming(limit))

    @on_replica
    def ai_calls_placed(self, start_date: datetime.date | str, end_date: datetime.date | str) -> int:
        return self.objects.ai_calls_placed(start_date, end_date)

    @on_replica
    def metrics(self, start_date: datetime.date | str, end_date: datetime.date | str) -> dict[str, Any]:
        """CallLogQuerySet.metrics(), summed from the counts calls_calllog's triggers keep per quarter of an hour
        (calls migration 0005): a few ms for a month of 300,000 calls, rather than 40-50."""
        calls = self.objects
        start, end = local_day_bounds(start_date, end_date, calls.scoped_gym().timezone)
        if not (on_a_quarter_hour(start) and on_a_quarter_hour(end)):
            return calls.metrics(start_date, end_date)  # a zone whose days begin at odd minutes (none today)
        with connections[reads_alias()].cursor() as cursor:  # the replica when this read is there
            cursor.execute("SELECT outcome, SUM(calls), SUM(timed), SUM(seconds) FROM calls_metricsbucket"
                           " WHERE gym_id = %s AND bucket >= %s AND bucket < %s GROUP BY outcome",
                           [self.gym_id, start, end])
            rows = cursor.fetchall()
        return metrics_of((outcome, int(n), int(timed), int(seconds)) for outcome, n, timed, seconds in rows)


class CachedCallRepository(CachedRepository, CallRepository):
    def ai_calls_placed(self, start_date: datetime.date | str, end_date: datetime.date | str) -> int:
        # A calls' figure like the metrics: any write to a call drops it with them.
        return int(self.cached(CALL_METRICS, {"start": start_date, "end": end_date, "ai_calls": True},
                               lambda: CallRepository.ai_calls_placed(self, start_date, end_date)))

    def metrics(self, start_date: datetime.date | str, end_date: datetime.date | str) -> dict[str, Any]:
        return self.cached(CALL_METRICS, {"start": start_date, "end": end_date},
                           lambda: CallRepository.metrics(self, start_date, end_date))


def call_repository(gym: Any) -> CallRepository:
    """The gym's call repository: the cached one when settings.USE_CACHED_REPOSITORIES is on."""
    return (CachedCallRepository if settings.USE_CACHED_REPOSITORIES else CallRepository)(gym)
