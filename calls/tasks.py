"""The calls' background work, on the job engine (reps/celery.py), started by beat (CELERY_BEAT_SCHEDULE).

Each periodic task only finds the gyms with work (SECURITY DEFINER questions, asked before any gym is
known) and starts one task per gym; a gym's task works through the services in that gym's transaction.
Every task may run twice (beat firing twice, a task handed out again after a worker died): dispatch claims
its calls under row locks that others skip and keeps each call's idempotency key, so a call is placed once.
"""

import uuid

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from reps.core.jobs import carry_on, start_per_gym
from reps.tenancy.database import gyms_with_due_calls, gyms_with_stuck_calls

from . import services, webhooks


@shared_task(name="calls.dispatch_due_calls")
def dispatch_due_calls() -> int:
    """Start dispatch_gym_calls for each gym with AI calls due, or sent and not yet confirmed; how many gyms."""
    def gyms() -> list[uuid.UUID]:
        now = timezone.now()
        return gyms_with_due_calls(now, now - services.RESEND_AFTER)
    return start_per_gym(dispatch_due_calls, gyms, dispatch_gym_calls)


@shared_task(name="calls.dispatch_gym_calls")
def dispatch_gym_calls(gym_id: str) -> dict[str, int]:
    """Send up to DISPATCH_BATCH_SIZE of the gym's due calls; a full batch starts two more for the rest."""
    batch = settings.DISPATCH_BATCH_SIZE
    return carry_on(dispatch_gym_calls, gym_id, services.dispatch_gym_calls(gym=uuid.UUID(gym_id), limit=batch), batch)


@shared_task(name="calls.reconcile_stuck_calls")
def reconcile_stuck_calls() -> int:
    """Start reconcile_gym_stuck_calls for each gym with calls the platform took and never reported ended."""
    return start_per_gym(reconcile_stuck_calls, lambda: gyms_with_stuck_calls(timezone.now() - webhooks.STUCK_AFTER),
                         reconcile_gym_stuck_calls)


@shared_task(name="calls.reconcile_gym_stuck_calls")
def reconcile_gym_stuck_calls(gym_id: str) -> int:
    """Ask the platform about the gym's stuck calls (get-call) and apply its answers; how many changed."""
    return webhooks.reconcile_gym_stuck_calls(uuid.UUID(gym_id))
