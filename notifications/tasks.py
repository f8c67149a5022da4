"""The notifications' background work on the job engine (reps/celery.py): planned from the outbox, sent by beat."""

import logging
import uuid

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from reps.core.jobs import carry_on, start_per_gym
from reps.core.models import OutboxMessage
from reps.core.outbox import subscribe
from reps.tenancy.database import gyms_with_due_notifications

from . import services

logger = logging.getLogger(__name__)


@subscribe("appointment.")
def plan_notifications(message: OutboxMessage) -> None:
    """The outbox relay's delivery of an appointment change: plan its notifications, and send what is due at
    once rather than at the next tick."""
    if services.plan_notifications(gym=message.gym_id, message_id=message.pk, topic=message.topic,
                                   payload=message.payload):
        try:
            send_gym_notifications.delay(str(message.gym_id))
        except Exception:  # the broker: the next tick sends them
            logger.warning("could not start sending gym %s's notifications now", message.gym_id, exc_info=True)


@shared_task(name="notifications.send_due_notifications")
def send_due_notifications() -> int:
    """Start send_gym_notifications for each gym with notifications due; how many gyms."""
    return start_per_gym(send_due_notifications, lambda: gyms_with_due_notifications(timezone.now()),
                         send_gym_notifications)


@shared_task(name="notifications.send_gym_notifications")
def send_gym_notifications(gym_id: str) -> dict[str, int]:
    """Send up to NOTIFICATION_BATCH_SIZE of the gym's due notifications; a full batch starts two more."""
    batch = settings.NOTIFICATION_BATCH_SIZE
    return carry_on(send_gym_notifications, gym_id, services.send_due_notifications(gym=uuid.UUID(gym_id), limit=batch),
                    batch)
