"""The outbox relay: each pending OutboxMessage handed to the subscribers of its topic, at least once.

An app subscribes with `@subscribe("appointment.")` (a topic, or a prefix ending in "."); the subscriber
is called with the message after its transaction has committed, outside any transaction, and must be
idempotent: a message is delivered again when its delivery failed, or when the worker delivering it died
before it could say so. `message.pk` is its delivery key, the same on every delivery.

The relay (relay_gym_outbox, run by the core.relay_outbox tasks) claims a gym's due messages under row locks
that other relays skip and marks them claimed for OUTBOX_CLAIM_SECONDS (next_attempt_at), so two relays
never deliver one message at once; then it delivers them and stamps each sent, or notes the error and
when to try again (OUTBOX_RETRY_SECONDS, doubled each attempt, at most an hour); after OUTBOX_MAX_ATTEMPTS
the message is failed, shown so in the admin, which can retry it. The outbox stays the source of truth in
PostgreSQL: with the broker down nothing is lost, the relay delivers it once it runs again.
"""

import datetime
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from reps.tenancy.database import gym_transaction
from reps.tenancy.services import gym_service

from .models import OutboxMessage

logger = logging.getLogger(__name__)

Subscriber = Callable[[OutboxMessage], None]
SUBSCRIBERS: list[tuple[str, Subscriber]] = []


def subscribe(topic: str) -> Callable[[Subscriber], Subscriber]:
    """Deliver the messages of this topic (or of every topic starting with it, when it ends in ".")."""
    def register(subscriber: Subscriber) -> Subscriber:
        SUBSCRIBERS.append((topic, subscriber))
        return subscriber
    return register


def subscribers_of(topic: str) -> list[Subscriber]:
    return [subscriber for wanted, subscriber in SUBSCRIBERS
            if wanted == topic or (wanted.endswith(".") and topic.startswith(wanted))]


def retry_pause(attempts: int) -> datetime.timedelta:
    """How long after its `attempts`-th failed delivery a message is tried again."""
    return datetime.timedelta(seconds=min(settings.OUTBOX_RETRY_SECONDS * 2 ** (attempts - 1), 3600))


def due(now: datetime.datetime) -> Q:
    return Q(sent_at__isnull=True, failed_at__isnull=True) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


@gym_service(atomic=False)  # claims and records in transactions; the subscribers run between them
def relay_gym_outbox(*, gym: uuid.UUID, limit: int = 100, now: datetime.datetime | None = None) -> dict[str, int]:
    """Deliver up to `limit` of the gym's due outbox messages, oldest first; counts of sent, retried, failed."""
    now = now or timezone.now()
    counts = {"sent": 0, "retried": 0, "failed": 0}
    with gym_transaction(gym):
        messages = list(OutboxMessage.objects.for_gym(gym).select_for_update(skip_locked=True)
                        .filter(due(now)).order_by("created_at")[:limit])
        claimed_until = now + datetime.timedelta(seconds=settings.OUTBOX_CLAIM_SECONDS)
        OutboxMessage.objects.for_gym(gym).filter(pk__in=[message.pk for message in messages]).update(
            next_attempt_at=claimed_until, updated_at=now)
    for message in messages:
        error = deliver(message)
        with gym_transaction(gym):
            done = timezone.now()
            if error is None:
                changes: dict[str, Any] = {"sent_at": done, "next_attempt_at": None, "attempts": message.attempts + 1}
                counts["sent"] += 1
            elif message.attempts + 1 >= settings.OUTBOX_MAX_ATTEMPTS:
                changes = {"failed_at": done, "next_attempt_at": None, "attempts": message.attempts + 1,
                           "last_error": error}
                counts["failed"] += 1
                logger.error("outbox message %s (%s) failed after %s attempts: %s", message.pk, message.topic,
                             message.attempts + 1, error)
            else:
                changes = {"next_attempt_at": done + retry_pause(message.attempts + 1),
                           "attempts": message.attempts + 1, "last_error": error}
                counts["retried"] += 1
            OutboxMessage.objects.for_gym(gym).filter(pk=message.pk).update(**changes, updated_at=done)
    return counts


def deliver(message: OutboxMessage) -> str | None:
    """Hand the message to each subscriber of its topic; None, or the first error (later ones are not tried)."""
    for subscriber in subscribers_of(message.topic):
        try:
            subscriber(message)
        except Exception as error:  # a subscriber's failure is the message's, to retry
            logger.warning("outbox message %s (%s): %s failed", message.pk, message.topic,
                           getattr(subscriber, "__qualname__", subscriber), exc_info=True)
            return f"{getattr(subscriber, '__qualname__', subscriber)}: {type(error).__name__}: {error}"[:2000]
    return None


def retry(messages: Any) -> int:
    """Make failed messages pending again, from their first attempt (the admin's action); how many."""
    return int(messages.filter(failed_at__isnull=False, sent_at__isnull=True).update(
        failed_at=None, next_attempt_at=None, attempts=0, updated_at=timezone.now()))
