"""The outbox relay: every message delivered at least once to its topic's subscribers, retried, failed, retried."""

import datetime
import threading
import time
from collections import Counter

import pytest
from celery.contrib.testing.worker import start_worker
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from reps.celery import app
from reps.core import outbox, tasks
from reps.core.models import OutboxMessage
from reps.tenancy.database import gyms_with_due_outbox

NOW = timezone.now()


class Subscriber:
    """A subscriber to "appointment." and "call.ended": what it received, (message id, topic, gym); it fails
    `failing` times first."""

    def __init__(self):
        self.got: list[tuple[str, str, object]] = []
        self.failing = 0
        self.lock = threading.Lock()

    def __call__(self, message):
        with self.lock:
            if self.failing:
                self.failing -= 1
                raise ConnectionError("the mail server did not answer")
            self.got.append((str(message.pk), message.topic, message.gym_id))


@pytest.fixture
def subscriber(monkeypatch):
    subscriber = Subscriber()
    monkeypatch.setattr(outbox, "SUBSCRIBERS", [("appointment.", subscriber), ("call.ended", subscriber)])
    return subscriber


def message(gym, topic="appointment.booked", **fields):
    return OutboxMessage.objects.unscoped().create(gym=gym, topic=topic, payload={"n": 1}, **fields)


def reread(row):
    return OutboxMessage.objects.unscoped().get(pk=row.pk)


@pytest.mark.django_db
def test_each_message_goes_to_its_topics_subscribers_once_and_is_marked_sent(gym, other_gym, subscriber):
    booked, ended, unheard = message(gym), message(gym, "call.ended"), message(gym, "lead.created")
    theirs = message(other_gym)

    assert gyms_with_due_outbox(NOW + datetime.timedelta(seconds=1)) in ([gym.pk, other_gym.pk],
                                                                          [other_gym.pk, gym.pk])
    assert outbox.relay_gym_outbox(gym=gym.pk) == {"sent": 3, "retried": 0, "failed": 0}
    assert outbox.relay_gym_outbox(gym=gym.pk) == {"sent": 0, "retried": 0, "failed": 0}

    assert sorted(subscriber.got) == sorted([(str(booked.pk), "appointment.booked", gym.pk),
                                       (str(ended.pk), "call.ended", gym.pk)])
    assert all(reread(row).state == "sent" for row in (booked, ended, unheard))  # no subscriber: nothing to do
    assert reread(theirs).state == "pending"  # another gym's relay delivers it


@pytest.mark.django_db
def test_a_failed_delivery_waits_longer_each_time_then_fails_and_the_admin_retries_it(
        gym, subscriber, settings, client, superuser):
    settings.OUTBOX_RETRY_SECONDS, settings.OUTBOX_MAX_ATTEMPTS = 30, 3
    row = message(gym)
    subscriber.failing = 3

    assert outbox.relay_gym_outbox(gym=gym.pk, now=NOW) == {"sent": 0, "retried": 1, "failed": 0}
    first = reread(row)
    assert first.attempts == 1 and "did not answer" in first.last_error
    assert 29 <= (first.next_attempt_at - timezone.now()).total_seconds() <= 31
    assert outbox.relay_gym_outbox(gym=gym.pk, now=NOW) == {"sent": 0, "retried": 0, "failed": 0}  # not yet

    later = first.next_attempt_at + datetime.timedelta(seconds=1)
    assert outbox.relay_gym_outbox(gym=gym.pk, now=later) == {"sent": 0, "retried": 1, "failed": 0}
    second = reread(row)
    assert 59 <= (second.next_attempt_at - timezone.now()).total_seconds() <= 61  # twice as long
    assert outbox.relay_gym_outbox(gym=gym.pk, now=second.next_attempt_at) == {"sent": 0, "retried": 0, "failed": 1}
    failed = reread(row)
    assert failed.state == "failed" and failed.attempts == 3 and subscriber.got == []
    assert gyms_with_due_outbox(NOW + datetime.timedelta(days=1)) == []

    client.force_login(superuser)
    changelist = reverse("admin:core_outboxmessage_changelist")
    assert str(row.pk) in client.get(changelist, {"delivery": "failed"}).content.decode()
    answer = client.post(changelist, {"action": "retry_delivery", "_selected_action": [str(row.pk)]}, follow=True)
    assert "1 failed message(s) will be delivered again." in answer.content.decode()

    assert reread(row).state == "pending" and reread(row).attempts == 0
    assert outbox.relay_gym_outbox(gym=gym.pk) == {"sent": 1, "retried": 0, "failed": 0}
    assert [topic for _, topic, _ in subscriber.got] == ["appointment.booked"]


@pytest.mark.django_db(transaction=True)
def test_messages_written_while_the_broker_is_down_are_delivered_once_it_is_back_each_once(
        gym, other_gym, subscriber, settings):
    settings.OUTBOX_BATCH_SIZE = 10
    rows = [message(gym if n % 2 else other_gym) for n in range(200)]  # written with no broker involved
    with app.connection_for_write("redis://127.0.0.1:1/0") as unreachable, pytest.raises(OperationalError):
        tasks.relay_outbox.apply_async(connection=unreachable, retry=False)  # what a broker outage refuses
    assert subscriber.got == []

    app.control.purge()
    with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=60):
        tasks.relay_outbox.delay()  # beat's tick, once the broker is back...
        tasks.relay_outbox.delay()  # ...twice at once
        deadline = time.monotonic() + 60
        while OutboxMessage.objects.unscoped().filter(sent_at__isnull=True).exists():
            assert time.monotonic() < deadline, "the relay did not finish in time"
            time.sleep(0.2)
        time.sleep(1)
    app.control.purge()

    assert len(subscriber.got) == 200
    assert max(Counter(key for key, _, _ in subscriber.got).values()) == 1  # each delivered once
    assert {key: gym_id for key, _, gym_id in subscriber.got} == {str(row.pk): row.gym_id for row in rows}
