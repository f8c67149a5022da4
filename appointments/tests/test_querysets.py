import datetime
import zoneinfo

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.tests.factories import UserFactory
from appointments.models import Appointment
from appointments.tests.factories import AppointmentFactory
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
HOUR = datetime.timedelta(hours=1)
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def appointments(gym):
    return Appointment.objects.for_gym(gym)


def test_upcoming_lists_active_future_appointments_soonest_first(gym, other_gym):
    later = AppointmentFactory(lead__gym=gym, scheduled_time=NOW + 5 * HOUR, status="confirmed")
    sooner = AppointmentFactory(lead__gym=gym, scheduled_time=NOW + HOUR)
    AppointmentFactory(lead__gym=gym, scheduled_time=NOW + 2 * HOUR, status="cancelled")
    AppointmentFactory(lead__gym=gym, scheduled_time=NOW - 2 * HOUR)
    AppointmentFactory(lead__gym=other_gym, scheduled_time=NOW + 3 * HOUR)

    assert list(appointments(gym).upcoming()) == [sooner, later]


def test_upcoming_loads_lead_staff_and_branch_in_one_query(gym, django_assert_num_queries):
    for hours in (1, 2, 3):
        AppointmentFactory(lead__gym=gym, scheduled_time=NOW + hours * HOUR)

    with django_assert_num_queries(1):
        assert len([(a.lead.phone, a.staff.email, a.branch) for a in appointments(gym).upcoming()]) == 3


def test_for_lead_newest_first(gym, other_gym):
    lead = LeadFactory(gym=gym)
    old = AppointmentFactory(lead=lead, scheduled_time=NOW - 48 * HOUR)
    new = AppointmentFactory(lead=lead, scheduled_time=NOW + 48 * HOUR)
    foreign = AppointmentFactory(lead__gym=other_gym)

    assert list(appointments(gym).for_lead(lead)) == [new, old]
    assert list(appointments(gym).for_lead(foreign.lead_id)) == []


@pytest.mark.parametrize(
    "start, end, conflict",
    [
        (0, 1, True),  # the same slot
        (0.5, 1.5, True),  # overlapping its end
        (-0.5, 0.5, True),  # overlapping its start
        (0.25, 0.75, True),  # inside it
        (-1, 2, True),  # around it
        (1, 2, False),  # back-to-back after
        (-1, 0, False),  # back-to-back before
        (3, 4, False),  # elsewhere
    ],
)
def test_has_conflict_uses_half_open_intervals_like_the_database(gym, start, end, conflict):
    staff = UserFactory(gym=gym)
    AppointmentFactory(lead__gym=gym, staff=staff, scheduled_time=NOW, end_time=NOW + HOUR)
    start, end = NOW + start * HOUR, NOW + end * HOUR

    assert appointments(gym).has_conflict(staff, start, end) is conflict
    # ... and the database agrees.
    outcome = _database_accepts(gym, staff, start, end)
    assert outcome is not conflict


def _database_accepts(gym, staff, start, end):
    try:
        with transaction.atomic():
            AppointmentFactory(lead__gym=gym, staff=staff, scheduled_time=start, end_time=end)
            transaction.set_rollback(True)
        return True
    except IntegrityError:
        return False


def test_has_conflict_ignores_cancelled_ones_other_staff_and_the_excluded_one(gym):
    staff, colleague = UserFactory(gym=gym), UserFactory(gym=gym)
    mine = AppointmentFactory(lead__gym=gym, staff=staff, scheduled_time=NOW, end_time=NOW + HOUR)
    AppointmentFactory(
        lead__gym=gym, staff=staff, scheduled_time=NOW + 2 * HOUR, end_time=NOW + 3 * HOUR, status="cancelled"
    )

    assert not appointments(gym).has_conflict(staff, NOW, NOW + HOUR, exclude_id=mine.pk)
    assert not appointments(gym).has_conflict(staff, NOW + 2 * HOUR, NOW + 3 * HOUR)
    assert not appointments(gym).has_conflict(colleague, NOW, NOW + HOUR)
    assert not appointments(gym).has_conflict(None, NOW, NOW + HOUR)
    assert list(appointments(gym).conflicts(staff, NOW, NOW + HOUR)) == [mine]


def test_stats_count_every_status_over_inclusive_local_days(gym, other_gym):
    def at(local, status):
        start = local.replace(tzinfo=NEW_YORK)
        return AppointmentFactory(lead__gym=gym, staff=None, scheduled_time=start, status=status)

    at(datetime.datetime(2026, 6, 1, 0, 0), "completed")
    at(datetime.datetime(2026, 6, 2, 23, 59), "no_show")
    at(datetime.datetime(2026, 6, 2, 12, 0), "completed")
    at(datetime.datetime(2026, 5, 31, 23, 59), "cancelled")  # the day before
    at(datetime.datetime(2026, 6, 3, 0, 0), "cancelled")  # the day after
    AppointmentFactory(lead__gym=other_gym, scheduled_time=datetime.datetime(2026, 6, 1, 12, tzinfo=NEW_YORK))

    assert appointments(gym).stats(datetime.date(2026, 6, 1), datetime.date(2026, 6, 2)) == {
        "scheduled": 0,
        "confirmed": 0,
        "completed": 2,
        "cancelled": 0,
        "no_show": 1,
    }
    assert appointments(gym).stats("2030-01-01", "2030-01-01") == dict.fromkeys(
        ["scheduled", "confirmed", "completed", "cancelled", "no_show"], 0
    )
