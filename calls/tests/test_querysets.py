import datetime
import zoneinfo

import pytest
from django.utils import timezone

from calls.models import CallLog
from calls.services import update_call_status
from calls.tests.factories import CallLogFactory, CallTranscriptFactory
from leads.tests.factories import LeadFactory
from reps.core.transitions import InvalidTransition

pytestmark = pytest.mark.django_db

NOW = timezone.now()
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def calls(gym):
    return CallLog.objects.for_gym(gym)


def test_upcoming_lists_scheduled_future_calls_soonest_first(gym, other_gym):
    later = CallLogFactory(lead__gym=gym, status="scheduled", start_time=NOW + datetime.timedelta(hours=5))
    sooner = CallLogFactory(lead__gym=gym, status="scheduled", start_time=NOW + datetime.timedelta(hours=1))
    CallLogFactory(lead__gym=gym, status="scheduled", start_time=NOW - datetime.timedelta(hours=1))  # overdue
    CallLogFactory(lead__gym=gym, status="completed", start_time=NOW + datetime.timedelta(hours=2))
    CallLogFactory(lead__gym=other_gym, status="scheduled", start_time=NOW + datetime.timedelta(hours=3))

    assert list(calls(gym).upcoming()) == [sooner, later]
    assert list(calls(gym).upcoming(limit=1)) == [sooner]


def test_upcoming_loads_leads_in_the_same_query(gym, django_assert_num_queries):
    for hours in (1, 2, 3):
        CallLogFactory(lead__gym=gym, status="scheduled", start_time=NOW + datetime.timedelta(hours=hours))

    with django_assert_num_queries(1):
        assert len([call.lead.phone for call in calls(gym).upcoming()]) == 3


def test_with_transcript_loads_it_in_the_same_query(gym, django_assert_num_queries):
    transcript = CallTranscriptFactory(call__lead__gym=gym)

    with django_assert_num_queries(1):
        assert calls(gym).with_transcript().get_by_id(transcript.call_id).transcript.content == transcript.content


def test_for_lead_lists_its_calls_newest_first_and_never_another_gyms(gym, other_gym):
    lead = LeadFactory(gym=gym)
    old = CallLogFactory(lead=lead, start_time=NOW - datetime.timedelta(days=2))
    new = CallLogFactory(lead=lead, start_time=NOW - datetime.timedelta(days=1))
    CallLogFactory(lead__gym=gym)
    foreign = CallLogFactory(lead__gym=other_gym)

    assert list(calls(gym).for_lead(lead)) == [new, old]
    assert list(calls(gym).for_lead(lead.pk)) == [new, old]
    assert list(calls(gym).for_lead(foreign.lead)) == []


def _call_at(gym, local_time, **fields):
    return CallLogFactory(lead__gym=gym, start_time=local_time.replace(tzinfo=NEW_YORK), **fields)


def test_metrics_over_inclusive_local_days(gym, other_gym):
    day = datetime.datetime(2026, 5, 4)
    _call_at(gym, day, status="completed", outcome="appointment_booked", duration=100)
    _call_at(gym, day.replace(hour=23, minute=59), status="completed", outcome="voicemail", duration=31)
    _call_at(gym, day.replace(hour=12), status="no_answer", outcome="no_answer")  # no duration: not averaged
    _call_at(gym, day.replace(hour=13), status="failed")  # no outcome: counted in the total only
    _call_at(gym, day - datetime.timedelta(minutes=1), status="completed", outcome="other", duration=999)
    _call_at(gym, day + datetime.timedelta(days=1), status="completed", outcome="other", duration=999)
    _call_at(other_gym, day.replace(hour=12), status="completed", outcome="other", duration=999)

    metrics = calls(gym).metrics(datetime.date(2026, 5, 4), datetime.date(2026, 5, 4))

    assert metrics == {
        "total_calls": 4,
        "avg_duration": 65,
        "outcomes": {
            "appointment_booked": 1,
            "follow_up_needed": 0,
            "not_interested": 0,
            "wrong_number": 0,
            "voicemail": 1,
            "no_answer": 1,
            "other": 0,
        },
    }


def test_ai_calls_placed_are_the_gyms_ai_calls_under_way_or_over_on_its_local_days(gym, other_gym):
    day = datetime.datetime(2026, 5, 4, 10)
    for status in ("completed", "no_answer", "failed", "in_progress"):
        _call_at(gym, day, status=status)
    _call_at(gym, day, status="scheduled")  # not dialled yet
    _call_at(gym, day, status="completed", is_ai_call=False)  # made by a person
    _call_at(gym, day - datetime.timedelta(hours=11), status="completed")  # the day before, in New York
    _call_at(other_gym, day, status="completed")

    assert calls(gym).ai_calls_placed(datetime.date(2026, 5, 4), datetime.date(2026, 5, 4)) == 4
    assert calls(other_gym).ai_calls_placed(datetime.date(2026, 5, 4), datetime.date(2026, 5, 4)) == 1


def test_metrics_of_an_empty_gym(gym, django_assert_num_queries):
    repo = calls(gym)  # given a Gym, the repository knows its time zone already
    with django_assert_num_queries(1):
        metrics = repo.metrics("2026-01-01", "2026-01-31")

    assert metrics["total_calls"] == 0 and metrics["avg_duration"] == 0
    assert set(metrics["outcomes"].values()) == {0} and len(metrics["outcomes"]) == 7


# --- update_call_status ------------------------------------------------------------


def test_completing_a_call_stamps_its_end_and_duration(gym):
    started = timezone.now() - datetime.timedelta(seconds=90)
    call = CallLogFactory(lead__gym=gym, status="in_progress", start_time=started)

    updated = update_call_status(gym=gym, call_id=call.pk, status="completed")

    assert updated.status == "completed"
    assert updated.end_time >= started + datetime.timedelta(seconds=90)
    assert 90 <= updated.duration <= 100
    call.refresh_from_db()
    assert (call.status, call.duration) == ("completed", updated.duration)


def test_starting_a_call_stamps_its_real_start(gym):
    before = timezone.now()
    call = CallLogFactory(lead__gym=gym, status="scheduled", start_time=before + datetime.timedelta(hours=2))

    updated = update_call_status(gym=gym, call_id=call.pk, status="in_progress")

    assert before <= updated.start_time <= timezone.now()


def test_completing_a_scheduled_call_early_keeps_its_times_consistent(gym):
    call = CallLogFactory(lead__gym=gym, status="scheduled", start_time=NOW + datetime.timedelta(hours=2))

    updated = update_call_status(gym=gym, call_id=call.pk, status="completed")

    assert updated.start_time <= updated.end_time and updated.duration == 0


@pytest.mark.parametrize(
    "current, new",
    [("completed", "scheduled"), ("completed", "in_progress"), ("in_progress", "scheduled"), ("failed", "completed")],
)
def test_illegal_call_status_changes_are_refused(gym, current, new):
    call = CallLogFactory(lead__gym=gym, status=current)

    with pytest.raises(InvalidTransition, match=f"cannot change from {current} to {new}"):
        update_call_status(gym=gym, call_id=call.pk, status=new)
    call.refresh_from_db()
    assert call.status == current


def test_a_failed_call_can_be_scheduled_again(gym):
    call = CallLogFactory(lead__gym=gym, status="failed")

    assert update_call_status(gym=gym, call_id=call.pk, status="scheduled").status == "scheduled"


def test_update_call_status_never_touches_another_gyms_call(gym, other_gym):
    theirs = CallLogFactory(lead__gym=other_gym, status="scheduled")

    assert update_call_status(gym=gym, call_id=theirs.pk, status="failed") is None
    assert update_call_status(gym=gym, call_id="garbage", status="failed") is None
    theirs.refresh_from_db()
    assert theirs.status == "scheduled"


# --- the counts calls_calllog's triggers keep (calls migration 0005) ------------------------------

ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu"]


def metrics_both_ways(gym, start, end):
    """(from the counts, as the repository reads them; from the calls themselves) in the gym's transaction."""
    from calls.querysets import CallRepository
    from reps.tenancy.database import gym_transaction

    with gym_transaction(gym):
        return CallRepository(gym).metrics(start, end), calls(gym).metrics(start, end)


@pytest.mark.parametrize("zone", ZONES)
def test_the_counted_metrics_are_the_calls_metrics_after_any_writes(gym, other_gym, zone):
    import random

    from calls.choices import CallOutcome
    from leads.services import delete_lead

    gym.timezone = zone
    gym.save(update_fields=["timezone"])
    rng = random.Random(zone)
    base = datetime.datetime(2026, 3, 7, tzinfo=datetime.UTC)  # across New York's change to summer time

    def moment():
        return None if rng.random() < 0.1 else base + datetime.timedelta(minutes=rng.randrange(0, 60 * 24 * 5))

    def fields():
        return {"start_time": moment(), "outcome": rng.choice([*CallOutcome.values, ""]),
                "duration": rng.choice([None, 0, 30, 95])}

    leads = [LeadFactory(gym=gym) for _ in range(3)]
    made = [CallLogFactory(lead=rng.choice(leads), **fields()) for _ in range(40)]
    CallLogFactory(lead__gym=other_gym, start_time=base + datetime.timedelta(hours=30), outcome="other", duration=9)
    for call in made[:15]:  # moved, re-outcomed, re-timed; saved whole or in part
        for name, value in fields().items():
            setattr(call, name, value)
        call.save()
    calls(gym).filter(pk__in=[call.pk for call in made[15:20]]).update(outcome="voicemail", duration=None)
    CallLog.objects.unscoped().filter(pk__in=[call.pk for call in made[20:25]]).delete()
    delete_lead(gym=gym, lead_id=leads[0].pk)  # its calls go with it

    for start, end in [("2026-03-07", "2026-03-07"), ("2026-03-06", "2026-03-11"), ("2026-03-08", "2026-03-09")]:
        counted, computed = metrics_both_ways(gym, start, end)
        assert counted == computed, (zone, start, end)
    assert metrics_both_ways(gym, "2026-03-01", "2026-03-31")[0]["total_calls"] == calls(gym).filter(
        start_time__isnull=False).count()


def test_the_application_role_reads_its_gyms_counts_only_and_writes_none(gym, other_gym):
    from django.db import DatabaseError, connection, transaction

    from reps.tenancy.database import gym_transaction

    CallLogFactory(lead__gym=gym, start_time=NOW, outcome="other")
    CallLogFactory(lead__gym=other_gym, start_time=NOW, outcome="other")

    with gym_transaction(gym), connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT gym_id FROM calls_metricsbucket")
        assert cursor.fetchall() == [(gym.pk,)]
        for statement in ["UPDATE calls_metricsbucket SET calls = calls + 1", "DELETE FROM calls_metricsbucket"]:
            with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
                cursor.execute(statement)
