"""No-shows: appointments still scheduled or confirmed after their end and the gym's grace period."""

import datetime

import pytest
from django.utils import timezone

from appointments import tasks
from appointments.models import Appointment
from appointments.querysets import CachedAppointmentRepository, appointment_repository
from appointments.services import mark_no_shows
from appointments.tests.factories import AppointmentFactory
from gyms.models import GymSettings
from reps.core.models import OutboxMessage
from reps.tenancy.database import gym_transaction, gyms_with_overdue_appointments

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def ended(gym, minutes_ago, status="scheduled"):
    end = NOW - datetime.timedelta(minutes=minutes_ago)
    return AppointmentFactory(lead__gym=gym, scheduled_time=end - datetime.timedelta(hours=1), end_time=end,
                              status=status)


def status_of(appointment):
    return Appointment.objects.unscoped().get(pk=appointment.pk).status


def test_appointments_past_their_end_and_grace_become_no_shows_in_their_gym_only(gym, other_gym):
    GymSettings.objects.for_gym(gym).update(no_show_grace_minutes=30)
    GymSettings.objects.for_gym(other_gym).update(no_show_grace_minutes=120)
    missed, missed_confirmed = ended(gym, 45), ended(gym, 180, "confirmed")
    within_grace, done, cancelled = ended(gym, 10), ended(gym, 180, "completed"), ended(gym, 180, "cancelled")
    other_gyms_within_its_grace, other_gyms_missed = ended(other_gym, 45), ended(other_gym, 180)

    assert mark_no_shows(gym=gym.pk, now=NOW) == 2

    assert status_of(missed) == status_of(missed_confirmed) == "no_show"
    assert [status_of(a) for a in (within_grace, done, cancelled)] == ["scheduled", "completed", "cancelled"]
    assert status_of(other_gyms_within_its_grace) == status_of(other_gyms_missed) == "scheduled"  # not gym A's
    announced = OutboxMessage.objects.unscoped().filter(topic="appointment.no_show")
    assert sorted(message.payload["appointment_id"] for message in announced) == sorted(
        [str(missed.pk), str(missed_confirmed.pk)])
    assert {message.gym_id for message in announced} == {gym.pk}
    assert mark_no_shows(gym=gym.pk, now=NOW) == 0  # once


def test_the_database_names_the_gyms_with_overdue_appointments_by_each_gyms_grace(gym, other_gym):
    GymSettings.objects.for_gym(gym).update(no_show_grace_minutes=30)
    GymSettings.objects.for_gym(other_gym).update(no_show_grace_minutes=120)
    ended(gym, 45)
    ended(other_gym, 45)  # within its gym's grace

    assert gyms_with_overdue_appointments(NOW) == [gym.pk]
    assert gyms_with_overdue_appointments(NOW + datetime.timedelta(minutes=90)) in (
        [gym.pk, other_gym.pk], [other_gym.pk, gym.pk])


def test_a_no_show_reaches_the_cached_stats(gym, django_capture_on_commit_callbacks):
    appointment = ended(gym, 45)
    days = (appointment.scheduled_time.date() - datetime.timedelta(days=1),
            appointment.scheduled_time.date() + datetime.timedelta(days=1))  # whatever the gym's time zone
    with gym_transaction(gym):
        repository = appointment_repository(gym)
        assert isinstance(repository, CachedAppointmentRepository)
        before = repository.stats(*days)

    with django_capture_on_commit_callbacks(execute=True):  # the invalidation, once the change commits
        mark_no_shows(gym=gym.pk, now=NOW)

    with gym_transaction(gym):
        after = appointment_repository(gym).stats(*days)
    assert (before["scheduled"], before["no_show"]) == (1, 0)
    assert (after["scheduled"], after["no_show"]) == (0, 1)


def test_the_periodic_task_starts_one_task_per_gym_with_overdue_appointments(gym, other_gym, monkeypatch):
    ended(gym, 180)
    ended(other_gym, 5)
    started = []
    monkeypatch.setattr(tasks.mark_gym_no_shows, "delay", lambda gym_id: started.append(gym_id))

    assert tasks.mark_no_shows() == 1
    assert started == [str(gym.pk)]
    assert tasks.mark_gym_no_shows(str(gym.pk)) == 1
