"""The outbox relay on the job engine (reps/celery.py, reps/core/outbox.py), started by beat."""

import uuid

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from reps.tenancy.database import gyms_with_due_outbox

from . import outbox
from .jobs import carry_on, start_per_gym


@shared_task(name="core.relay_outbox")
def relay_outbox() -> int:
    """Start relay_gym_outbox for each gym with outbox messages due; how many gyms."""
    return start_per_gym(relay_outbox, lambda: gyms_with_due_outbox(timezone.now()), relay_gym_outbox)


@shared_task(name="core.relay_gym_outbox")
def relay_gym_outbox(gym_id: str) -> dict[str, int]:
    """Deliver up to OUTBOX_BATCH_SIZE of the gym's due messages; a full batch starts two more for the rest."""
    batch = settings.OUTBOX_BATCH_SIZE
    return carry_on(relay_gym_outbox, gym_id, outbox.relay_gym_outbox(gym=uuid.UUID(gym_id), limit=batch), batch)
