import datetime
import threading

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.tests.factories import UserFactory
from appointments.models import Appointment, AppointmentStatus
from appointments.tests.factories import AppointmentFactory
from gyms.models import GymSettings
from leads.tests.factories import LeadFactory
from reps.core.testing import refused_by_database, validation_messages

START = timezone.now().replace(minute=0, second=0, microsecond=0) + datetime.timedelta(days=2)
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def staff(gym):
    return UserFactory(gym=gym)


def book(staff, start, end=None, **fields):
    return AppointmentFactory(lead__gym=staff.gym, staff=staff, scheduled_time=start, end_time=end, **fields)


@pytest.mark.django_db
def test_end_time_defaults_to_the_gyms_appointment_length(gym, staff):
    GymSettings.objects.unscoped().filter(gym=gym).update(default_appointment_minutes=45)

    appointment = book(staff, START)

    assert appointment.end_time == START + datetime.timedelta(minutes=45)


@pytest.mark.django_db
def test_an_appointment_must_end_after_it_starts(staff):
    appointment = Appointment(
        gym=staff.gym, lead=LeadFactory(gym=staff.gym), staff=staff, title="Tour", scheduled_time=START, end_time=START
    )

    assert validation_messages(appointment)["__all__"] == ["An appointment must end after it starts."]
    with refused_by_database("appointment_end_after_start"):
        appointment.save()


@pytest.mark.django_db
def test_overlapping_appointments_of_one_staff_member_are_refused(staff):
    book(staff, START, START + HOUR)

    overlapping = Appointment(
        gym=staff.gym,
        lead=LeadFactory(gym=staff.gym),
        staff=staff,
        title="Tour",
        scheduled_time=START + HOUR / 2,
        end_time=START + 2 * HOUR,
    )
    assert validation_messages(overlapping)["__all__"] == ["This staff member already has an appointment at that time."]
    with refused_by_database("appointment_staff_no_overlap"):
        overlapping.save()
    with refused_by_database("appointment_staff_no_overlap"):  # inside
        book(staff, START + datetime.timedelta(minutes=10), START + datetime.timedelta(minutes=20))
    with refused_by_database("appointment_staff_no_overlap"):  # around
        book(staff, START - HOUR, START + 2 * HOUR)


@pytest.mark.django_db
def test_back_to_back_appointments_are_fine(staff):
    book(staff, START, START + HOUR)
    book(staff, START + HOUR, START + 2 * HOUR)
    book(staff, START - HOUR, START)

    assert Appointment.objects.unscoped().filter(staff=staff).count() == 3


@pytest.mark.django_db
def test_other_staff_cancelled_and_unassigned_appointments_do_not_conflict(gym, staff):
    book(staff, START, START + HOUR)

    book(UserFactory(gym=gym), START, START + HOUR)
    book(staff, START, START + HOUR, status=AppointmentStatus.CANCELLED)
    book(staff, START, START + HOUR, status=AppointmentStatus.NO_SHOW)
    AppointmentFactory(lead__gym=gym, staff=None, scheduled_time=START, end_time=START + HOUR)
    AppointmentFactory(lead__gym=gym, staff=None, scheduled_time=START, end_time=START + HOUR)


@pytest.mark.django_db
def test_reopening_a_cancelled_appointment_into_a_taken_slot_is_refused(staff):
    book(staff, START, START + HOUR)
    cancelled = book(staff, START, START + HOUR, status=AppointmentStatus.CANCELLED)

    cancelled.status = AppointmentStatus.SCHEDULED
    with refused_by_database("appointment_staff_no_overlap"):
        cancelled.save()


@pytest.mark.django_db
def test_staff_lead_and_branch_must_be_of_the_appointments_gym(gym, other_gym):
    appointment = Appointment(
        gym=gym, lead=LeadFactory(gym=gym), staff=UserFactory(gym=other_gym), title="Tour", scheduled_time=START
    )

    assert validation_messages(appointment)["staff"] == ["This user belongs to another gym."]
    with refused_by_database("appointments_appointment_staff_id_same_gym"):
        appointment.save()
    with refused_by_database("appointments_appointment_lead_id_same_gym"):
        Appointment.objects.create(gym=gym, lead=LeadFactory(gym=other_gym), title="Tour", scheduled_time=START)


def _insert_in_thread(staff, lead, start, end, inserted, release, outcome):
    try:
        with transaction.atomic():
            Appointment.objects.create(
                gym_id=staff.gym_id, lead=lead, staff=staff, title="Tour", scheduled_time=start, end_time=end
            )
            inserted.set()
            release.wait(timeout=10)
        outcome.append("committed")
    except IntegrityError as error:
        outcome.append(error)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "second_start, second_wins",
    [(START + HOUR / 2, False), (START + HOUR, True)],
    ids=["overlapping: only one commits", "back-to-back: both commit"],
)
def test_two_concurrent_transactions_cannot_both_book_one_slot(gym, second_start, second_wins):
    staff = UserFactory(gym=gym)
    first_lead, second_lead = LeadFactory(gym=gym), LeadFactory(gym=gym)
    first_inserted, second_inserted, release = threading.Event(), threading.Event(), threading.Event()
    no_wait = threading.Event()
    no_wait.set()
    first, second = [], []

    # The first transaction inserts and stays open; the second inserts on its
    # own connection while the first row is still invisible to it, so no
    # application-level check could see the conflict: only the database can.
    one = threading.Thread(
        target=_insert_in_thread, args=(staff, first_lead, START, START + HOUR, first_inserted, release, first)
    )
    one.start()
    assert first_inserted.wait(timeout=10)
    assert not Appointment.objects.unscoped().filter(staff=staff).exists()  # uncommitted, invisible here
    two = threading.Thread(
        target=_insert_in_thread,
        args=(staff, second_lead, second_start, second_start + HOUR, second_inserted, no_wait, second),
    )
    two.start()
    two.join(timeout=1)
    # An overlapping insert waits on the first transaction's row; a back-to-back one does not.
    assert two.is_alive() is not second_wins
    release.set()
    one.join(timeout=10)
    two.join(timeout=10)

    assert first == ["committed"]
    if second_wins:
        assert second == ["committed"]
        assert Appointment.objects.unscoped().filter(staff=staff).count() == 2
    else:
        assert len(second) == 1 and "appointment_staff_no_overlap" in str(second[0])
        assert Appointment.objects.unscoped().filter(staff=staff).count() == 1
