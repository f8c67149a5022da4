"""Reminders on real Celery workers (separate processes, the real Redis as broker), one killed mid-task."""

import datetime
import email
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from gyms.models import Gym, GymSettings
from leads.tests.factories import LeadFactory
from notifications import services, tasks
from notifications.models import Notification
from reps.celery import app

from .conftest import ACCOUNT, TOKEN

pytestmark = pytest.mark.django_db(transaction=True)  # the workers read what the test committed

BASE = Path(__file__).resolve().parents[2]


class Worker:
    """`celery worker` in a process of its own, on this test's database, texting the fake Twilio."""

    def __init__(self, twilio, mail_dir, log):
        database = connection.settings_dict
        env = {**os.environ,
               "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
               "DATABASE_PLATFORM_URL": "", "SMS_BACKEND": "notifications.sms.TwilioBackend",
               "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_API_BASE": twilio.url,
               "SMS_TIMEOUT_SECONDS": "30", "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
               "EMAIL_FILE_PATH": str(mail_dir), "NOTIFICATION_CLAIM_SECONDS": "3"}
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "reps", "worker", "--pool=solo", "--without-mingle",
             "--without-gossip", "--loglevel=INFO"], cwd=BASE, env=env, stdout=log, stderr=subprocess.STDOUT)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(condition, seconds=90):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the workers did not finish in time"
        time.sleep(0.2)


def due_reminders(gym, count):
    """`count` leads' appointments in 90 minutes, each with its two-hour reminders (email, SMS) due now."""
    Gym.objects.filter(pk=gym.pk).update(phone="+12125550100")
    GymSettings.objects.for_gym(gym).update(reminder_minutes_before=[120], quiet_hours_start=datetime.time(0, 0),
                                            quiet_hours_end=datetime.time(0, 0))
    now = timezone.now()
    for n in range(count):
        lead = LeadFactory(gym=gym, phone=f"+1212555{n:04d}", email=f"lead{n}@example.com",
                           consent_given_at=now, consent_source="web form")
        appointment = services.Appointment.objects.unscoped().create(
            gym=gym, lead=lead, title="Gym tour", scheduled_time=now + datetime.timedelta(minutes=90 + n))
        services.plan_notifications(gym=gym.pk, message_id=f"m{n}", topic="appointment.booked", now=now - datetime.timedelta(hours=1),
                                    payload={"appointment_id": str(appointment.pk),
                                             "scheduled_time": appointment.scheduled_time.isoformat()})
    Notification.objects.unscoped().exclude(kind="reminder").delete()  # only the reminders, due now


def test_reminders_go_exactly_once_when_a_worker_is_killed_mid_send_and_another_takes_over(
        gym, fake_twilio, tmp_path):
    due_reminders(gym, 20)
    assert Notification.objects.unscoped().filter(kind="reminder", send_at__lte=timezone.now()).count() == 40
    fake_twilio.hang_at = 6  # the 6th text is taken by Twilio, whose answer never comes
    app.control.purge()
    log = open(tmp_path / "workers.log", "w")
    first = Worker(fake_twilio, tmp_path / "mail", log)
    second = None
    try:
        tasks.send_due_notifications.delay()  # beat's tick
        assert fake_twilio.hanging.wait(60), (tmp_path / "workers.log").read_text()[-3000:]
        first.kill()  # mid-task: one text sent but not recorded, the rest of the batch claimed and not sent
        stuck = Counter(Notification.objects.unscoped().values_list("status", flat=True))
        assert stuck["sent"] >= 5 and stuck["sending"] == 40 - stuck["sent"], stuck

        second = Worker(fake_twilio, tmp_path / "mail", log)
        time.sleep(3)  # the dead worker's claims run out
        tasks.send_due_notifications.delay()  # the next tick
        wait_for(lambda: not Notification.objects.unscoped().exclude(status="sent").exists())
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.stop()
        app.control.purge()

    texts = Counter(message["to"] for message in fake_twilio.messages)
    assert len(texts) == 20 and set(texts.values()) == {1}, texts
    posts = [request for request in fake_twilio.requests if request["method"] == "POST"]
    assert len(posts) == 20  # the text whose answer never came was looked up, not sent again
    # The file-based backend appends each message to a file, after a line of 79 dashes.
    emails = [email.message_from_string(part) for path in (tmp_path / "mail").iterdir()
              for part in path.read_text().split("-" * 79 + "\n") if part.strip()]
    assert Counter(message["To"] for message in emails) == {f"lead{n}@example.com": 1 for n in range(20)}
    recorded = {row.provider_id for row in Notification.objects.unscoped().filter(channel="sms")}
    assert recorded == {message["sid"] for message in fake_twilio.messages}
