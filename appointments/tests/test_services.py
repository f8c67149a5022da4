import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.tests.factories import UserFactory
from appointments import services
from appointments.models import Appointment
from appointments.services import (
    AppointmentConflict,
    book_appointment,
    reschedule_appointment,
    update_appointment_status,
)
from appointments.tests.factories import AppointmentFactory
from calls.tests.factories import CallLogFactory
from gyms.tests.factories import BranchFactory
from leads.tests.factories import LeadFactory
from reps.core.models import OutboxMessage
from reps.core.transitions import InvalidTransition

pytestmark = pytest.mark.django_db

START = timezone.now().replace(minute=0, second=0, microsecond=0) + datetime.timedelta(days=3)
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def staff(gym):
    return UserFactory(gym=gym)


@pytest.fixture
def lead(gym):
    return LeadFactory(gym=gym)


def book(gym, lead, staff, start=START, **kwargs):
    return book_appointment(gym=gym, lead=lead, staff=staff, scheduled_time=start, title="Tour", **kwargs)


def test_booking_stores_the_appointment_and_its_notification_together(gym, lead, staff):
    branch, call = BranchFactory(gym=gym), CallLogFactory(lead=lead)

    appointment = book(gym, lead, staff, branch=branch, call=call.pk, description="Wants a trial")

    assert appointment.end_time == START + HOUR  # the gym's default length
    assert (appointment.branch, appointment.call, appointment.status) == (branch, call, "scheduled")
    message = OutboxMessage.objects.for_gym(gym).get()
    assert message.topic == "appointment.booked"
    assert message.payload["appointment_id"] == str(appointment.pk)
    assert message.sent_at is None


@pytest.mark.parametrize("field", ["lead", "staff", "branch", "call"])
def test_booking_refuses_another_gyms_lead_staff_branch_or_call(gym, other_gym, lead, staff, field):
    foreign = {
        "lead": lambda: LeadFactory(gym=other_gym),
        "staff": lambda: UserFactory(gym=other_gym),
        "branch": lambda: BranchFactory(gym=other_gym),
        "call": lambda: CallLogFactory(lead__gym=other_gym),
    }[field]()
    kwargs = {"lead": lead, "staff": staff, field: foreign}

    with pytest.raises(ValidationError) as raised:
        book_appointment(gym=gym, scheduled_time=START, title="Tour", **kwargs)

    assert list(raised.value.message_dict) == [field]
    assert not Appointment.objects.unscoped().exists()
    assert not OutboxMessage.objects.unscoped().exists()


def test_booking_an_overlap_is_a_conflict_naming_the_appointment_and_writes_nothing(gym, lead, staff):
    first = book(gym, lead, staff)

    with pytest.raises(AppointmentConflict) as raised:
        book(gym, LeadFactory(gym=gym), staff, start=START + HOUR / 2)

    assert raised.value.conflicting_id == first.pk
    assert Appointment.objects.for_gym(gym).count() == 1
    assert OutboxMessage.objects.for_gym(gym).count() == 1


def test_back_to_back_bookings_are_fine(gym, lead, staff):
    book(gym, lead, staff)
    book(gym, lead, staff, start=START + HOUR)
    book(gym, lead, staff, start=START - HOUR)

    assert Appointment.objects.for_gym(gym).count() == 3


def test_an_overlap_only_the_database_sees_is_still_a_conflict(gym, lead, staff, monkeypatch):
    # As when a concurrent booking commits between our check and our insert.
    first = book(gym, lead, staff)
    monkeypatch.setattr(services, "_check_free", lambda appointment: None)

    with pytest.raises(AppointmentConflict) as raised:
        book(gym, lead, staff, start=START + HOUR / 2)

    assert raised.value.conflicting_id == first.pk
    assert OutboxMessage.objects.for_gym(gym).count() == 1


def test_a_failing_notification_leaves_no_appointment(gym, lead, staff, monkeypatch):
    def broken(appointment, topic):
        raise RuntimeError("outbox down")

    monkeypatch.setattr(services, "_announce", broken)

    with pytest.raises(RuntimeError):
        book(gym, lead, staff)
    assert not Appointment.objects.unscoped().exists()


def test_a_booking_inside_a_larger_transaction_rolls_back_with_it(gym, lead, staff):
    with pytest.raises(ZeroDivisionError):
        with transaction.atomic():
            book(gym, lead, staff)
            raise ZeroDivisionError("a later step failed")

    assert not Appointment.objects.unscoped().exists()
    assert not OutboxMessage.objects.unscoped().exists()


def test_booking_validates_its_times(gym, lead, staff):
    with pytest.raises(ValidationError) as raised:
        book(gym, lead, staff, end_time=START - HOUR)

    assert raised.value.messages == ["An appointment must end after it starts."]


# --- rescheduling ------------------------------------------------------------------


def test_rescheduling_keeps_the_length_and_refuses_overlaps(gym, lead, staff):
    moving = book(gym, lead, staff, end_time=START + 2 * HOUR)
    blocker = book(gym, lead, staff, start=START + 5 * HOUR)

    moved = reschedule_appointment(gym=gym, appointment_id=moving.pk, scheduled_time=START + 2 * HOUR)
    assert (moved.scheduled_time, moved.end_time) == (START + 2 * HOUR, START + 4 * HOUR)

    with pytest.raises(AppointmentConflict) as raised:
        reschedule_appointment(gym=gym, appointment_id=moving.pk, scheduled_time=START + 4 * HOUR)
    assert raised.value.conflicting_id == blocker.pk
    moving.refresh_from_db()
    assert moving.scheduled_time == START + 2 * HOUR
    assert [m.topic for m in OutboxMessage.objects.for_gym(gym)] == [
        "appointment.booked",
        "appointment.booked",
        "appointment.rescheduled",
    ]


def test_a_cancelled_appointment_cannot_be_rescheduled(gym, lead, staff):
    cancelled = AppointmentFactory(lead=lead, staff=staff, status="cancelled")

    with pytest.raises(ValidationError, match="cancelled appointment cannot be rescheduled"):
        reschedule_appointment(gym=gym, appointment_id=cancelled.pk, scheduled_time=START)


# --- status --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "current, new, allowed",
    [
        ("scheduled", "confirmed", True),
        ("confirmed", "completed", True),
        ("scheduled", "no_show", True),
        ("cancelled", "scheduled", True),
        ("completed", "scheduled", False),
        ("no_show", "confirmed", False),
        ("confirmed", "scheduled", False),
    ],
)
def test_appointment_status_follows_the_allowed_transitions(gym, lead, staff, current, new, allowed):
    appointment = AppointmentFactory(lead=lead, staff=staff, status=current)

    if allowed:
        assert update_appointment_status(gym=gym, appointment_id=appointment.pk, status=new).status == new
        assert OutboxMessage.objects.for_gym(gym).get().topic == f"appointment.{new}"
    else:
        with pytest.raises(InvalidTransition):
            update_appointment_status(gym=gym, appointment_id=appointment.pk, status=new)
        appointment.refresh_from_db()
        assert appointment.status == current


def test_reopening_a_cancelled_appointment_into_a_taken_slot_is_a_conflict(gym, lead, staff):
    cancelled = AppointmentFactory(lead=lead, staff=staff, scheduled_time=START, status="cancelled")
    taken = book(gym, lead, staff)

    with pytest.raises(AppointmentConflict) as raised:
        update_appointment_status(gym=gym, appointment_id=cancelled.pk, status="scheduled")
    assert raised.value.conflicting_id == taken.pk


def test_appointment_services_never_touch_another_gyms_appointment(gym, other_gym):
    theirs = AppointmentFactory(lead__gym=other_gym)

    assert update_appointment_status(gym=gym, appointment_id=theirs.pk, status="cancelled") is None
    assert reschedule_appointment(gym=gym, appointment_id=theirs.pk, scheduled_time=START) is None
    theirs.refresh_from_db()
    assert theirs.status == "scheduled"
