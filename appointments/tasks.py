"""The appointments' background work on the job engine (reps/celery.py), started by beat."""

import uuid

from celery import shared_task
from django.utils import timezone

from reps.core.jobs import note_tick, require_gym_proofs
from reps.tenancy.database import gyms_with_overdue_appointments

from . import services


@shared_task(name="appointments.mark_no_shows")
def mark_no_shows() -> int:
    """Start mark_gym_no_shows for each gym with appointments past their end and grace period; how many gyms."""
    note_tick("appointments.mark_no_shows")
    require_gym_proofs()
    gyms = gyms_with_overdue_appointments(timezone.now())
    for gym_id in gyms:
        mark_gym_no_shows.delay(str(gym_id))
    return len(gyms)


@shared_task(name="appointments.mark_gym_no_shows")
def mark_gym_no_shows(gym_id: str) -> int:
    """Mark the gym's overdue appointments no_show (services.mark_no_shows); how many."""
    return services.mark_no_shows(gym=uuid.UUID(gym_id))
