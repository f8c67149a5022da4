"""The appointments' background work on the job engine (reps/celery.py), started by beat."""

import uuid

from celery import shared_task
from django.utils import timezone

from reps.core.jobs import start_per_gym
from reps.tenancy.database import gyms_with_overdue_appointments

from . import services


@shared_task(name="appointments.mark_no_shows")
def mark_no_shows() -> int:
    """Start mark_gym_no_shows for each gym with appointments past their end and grace period; how many gyms."""
    return start_per_gym(mark_no_shows, lambda: gyms_with_overdue_appointments(timezone.now()), mark_gym_no_shows)


@shared_task(name="appointments.mark_gym_no_shows")
def mark_gym_no_shows(gym_id: str) -> int:
    """Mark the gym's overdue appointments no_show (services.mark_no_shows); how many."""
    return services.mark_no_shows(gym=uuid.UUID(gym_id))
