"""The whole story with nothing run by hand: beat (its own process) and a real worker (4 threads, the real
Redis as broker) do everything in the background. The gym imports leads (a job the worker runs) and queues
calls; the worker dispatches them to the (local, fake) voice platform; the platform's webhooks, built with its own SDK, book
an appointment; the worker relays the booking and sends its confirmation by email and SMS, then the
reminder, then marks a missed appointment no-show; the stats and the dashboard show all of it."""

import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.utils import timezone

from accounts.tests.factories import RoleFactory, UserFactory
from appointments.models import Appointment
from calls.models import CallLog
from calls.tests.conftest import KEY, FakePlatform, sdk_deliver, sdk_platform_call
from gyms.models import AISettings, Gym, GymSettings
from leads.models import Lead
from notifications import sms
from notifications.models import Notification
from reps.celery import app

pytestmark = pytest.mark.django_db(transaction=True)  # the worker reads what the test committed

BASE = Path(__file__).resolve().parents[3]
EVERY_SECOND = {name: "1" for name in ("DISPATCH_CALLS_EVERY_SECONDS", "RECONCILE_CALLS_EVERY_SECONDS",
                                        "MARK_NO_SHOWS_EVERY_SECONDS", "RELAY_OUTBOX_EVERY_SECONDS",
                                        "SEND_NOTIFICATIONS_EVERY_SECONDS")}


@pytest.fixture
def voice_platform(settings):
    """The voice platform: a local fake of its API, and the key its webhooks are signed with."""
    platform = FakePlatform()
    settings.RETELL_API_BASE, settings.RETELL_API_KEY = platform.url, KEY
    yield platform
    platform.close()


@pytest.fixture
def beat(tmp_path):
    """celery beat in its own process, every periodic task once a second."""
    log = open(tmp_path / "beat.log", "w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "celery"), "-A", "reps", "beat", "--loglevel=INFO",
         "--schedule", str(tmp_path / "beat-schedule")],
        cwd=BASE, env={**os.environ, **EVERY_SECOND}, stdout=log, stderr=subprocess.STDOUT)
    yield process
    process.terminate()
    process.wait(20)


@pytest.fixture
def worker(settings):
    app.control.purge()
    settings.SMS_BACKEND = "notifications.sms.LocmemBackend"
    sms.outbox.clear()
    with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=60):
        yield
    app.control.purge()


def eventually(condition, seconds=90):
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < deadline, "the background work did not happen in time"
        time.sleep(0.25)
    return result


def test_import_calls_booking_notifications_reminder_no_show_and_figures_with_nothing_run_by_hand(
        api_client_for, gym, other_gym, client, voice_platform, worker, beat, settings):
    settings.LEAD_IMPORT_ASYNC_ROWS = 1  # the import is a job, as a big file's is
    Gym.objects.filter(pk=gym.pk).update(phone="+12125550100")
    AISettings.objects.for_gym(gym).update(agent_id="agent_a")
    GymSettings.objects.for_gym(gym).update(  # open and loud all day, so the test runs at any hour
        calling_hours_start=datetime.time(0, 0), calling_hours_end=datetime.time(23, 59, 59),
        quiet_hours_start=datetime.time(0, 0), quiet_hours_end=datetime.time(0, 0),
        reminder_minutes_before=[120], no_show_grace_minutes=0)
    UserFactory(gym=gym, role=RoleFactory(name="sales"))
    manager = api_client_for(UserFactory(gym=gym, role=RoleFactory(name="manager")))

    # 1. The gym imports its leads, who agreed to be called: a job the worker runs.
    csv = ("Name,Mobile,Email,Consent\nJane Doe,212-555-0123,jane@example.com,yes\n"
           "John Roe,212-555-0124,john@example.com,yes\n")
    response = manager.post("/api/v1/leads/import/", {"file": _file(csv)}, format="multipart")
    assert response.status_code == 202, response.content
    job = eventually(lambda: (lambda job: job if job["status"] == "done" else None)(
        manager.get(response["Location"]).json()))
    assert (job["created"], job["rows_processed"], job["rows_total"]) == (2, 2, 2)
    jane = Lead.objects.for_gym(gym).get(phone="+12125550123")
    john = Lead.objects.for_gym(gym).get(phone="+12125550124")

    # 2. Calls are queued; beat and the worker dispatch them to the platform, nobody runs anything.
    assert len(manager.post("/api/v1/calls/queue/", {"leads": [str(jane.pk), str(john.pk)]},
                            format="json").json()["queued"]) == 2
    placed = eventually(lambda: (lambda creates: creates if len(creates) == 2 else None)(
        {request["body"]["to_number"]: request["body"] for request in voice_platform.requests
         if request["path"] == "/v2/create-phone-call"}))
    jane_call = CallLog.objects.for_gym(gym).get(lead=jane)
    assert jane_call.retell_call_id

    # 3. The platform reports Jane's call: she agreed to a tour in a little over two hours.
    start = (timezone.now() + datetime.timedelta(hours=2, seconds=25)).replace(microsecond=0)
    metadata = placed[jane.phone]["metadata"]
    ended = sdk_platform_call(jane_call.retell_call_id, to_number=jane.phone, metadata=metadata)
    assert sdk_deliver(client, "call_ended", ended).status_code == 200
    analyzed = sdk_platform_call(jane_call.retell_call_id, to_number=jane.phone, metadata=metadata, call_analysis={
        "call_summary": "Jane wants a tour.", "user_sentiment": "Positive", "call_successful": True,
        "custom_analysis_data": {"appointment_time": start.isoformat()}})
    assert sdk_deliver(client, "call_analyzed", analyzed).status_code == 200
    tour = Appointment.objects.for_gym(gym).get(lead=jane)
    assert tour.scheduled_time == start

    # 4. Its confirmation goes by email and SMS, in the background.
    eventually(lambda: len(mail.outbox) >= 1 and len(sms.outbox) >= 1)
    assert mail.outbox[0].to == ["jane@example.com"] and mail.outbox[0].subject.startswith("You're booked")
    assert sms.outbox[0].to == jane.phone and sms.outbox[0].from_ == "+12125550100"

    # 5. The two-hour reminder goes when it is due, once.
    eventually(lambda: len(mail.outbox) >= 2 and len(sms.outbox) >= 2, seconds=60)
    assert mail.outbox[1].subject.startswith("Reminder") and "reminder" in sms.outbox[1].body
    reminders = Notification.objects.for_gym(gym).filter(kind="reminder", status="sent")
    lag = max((row.sent_at - row.send_at).total_seconds() for row in reminders)
    assert reminders.count() == 2 and lag < 10, lag

    # 6. John was booked by staff for a session that has already ended: the worker marks it a no-show.
    earlier = timezone.now() - datetime.timedelta(hours=2)
    booked = manager.post("/api/v1/appointments/", {"lead": str(john.pk), "title": "Trial", "staff": None,
                                                   "scheduled_time": earlier.isoformat()}, format="json")
    assert booked.status_code == 201, booked.content
    eventually(lambda: Appointment.objects.for_gym(gym).get(lead=john).status == "no_show")
    # Jane came: staff mark her tour completed.
    assert manager.post(f"/api/v1/appointments/{tour.pk}/status/", {"status": "completed"},
                        format="json").status_code == 200

    # 7. The figures show it all; nothing reached the other gym.
    today = timezone.localdate(timezone.now(), gym.tzinfo)
    span = {"start": (today - datetime.timedelta(days=1)).isoformat(),
            "end": (today + datetime.timedelta(days=1)).isoformat()}
    stats = manager.get("/api/v1/appointments/stats/", span).json()
    assert stats["completed"] == 1 and stats["no_show"] == 1, stats
    dashboard = manager.get("/api/v1/leads/dashboard/").json()
    assert dashboard["lead_counts"]["contacted"] >= 1, dashboard
    sent = manager.get("/api/v1/notifications/", {"lead": str(jane.pk), "status": "sent"}).json()["results"]
    assert sorted((row["kind"], row["channel"]) for row in sent) == [
        ("confirmation", "email"), ("confirmation", "sms"), ("reminder", "email"), ("reminder", "sms")]
    assert len(mail.outbox) == 2 and len(sms.outbox) == 2  # John's confirmation of a past session is skipped
    assert Notification.objects.unscoped().filter(gym=other_gym).count() == 0


def _file(text):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("leads.csv", text.encode())
