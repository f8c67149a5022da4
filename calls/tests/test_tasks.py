"""The calls' periodic tasks on a real Celery worker, its broker the real Redis (no eager mode)."""

import datetime
import time
from collections import Counter

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from calls import tasks
from calls.models import CallLog
from gyms.models import AISettings, Gym, GymSettings
from leads.models import Lead
from leads.tests.factories import LeadFactory
from reps.celery import app

from .factories import CallLogFactory

pytestmark = pytest.mark.django_db(transaction=True)  # the worker reads what the test committed


@pytest.fixture
def worker(settings):
    """Four worker threads, as four workers would take the tasks, from an emptied queue."""
    app.control.purge()
    with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=60):
        yield
    app.control.purge()


def callable_gym(gym, number):
    Gym.objects.filter(pk=gym.pk).update(phone=number)
    AISettings.objects.for_gym(gym).update(agent_id=f"agent_{gym.pk}")
    # Open all day, so that the test passes whatever the hour it runs at (dispatch checks the real clock).
    GymSettings.objects.for_gym(gym).update(calling_hours_start=datetime.time(0, 0),
                                            calling_hours_end=datetime.time(23, 59, 59))


def due_calls(gym, count, first_number):
    leads = LeadFactory.build_batch(count, gym=gym, consent_given_at=timezone.now(), consent_source="web form")
    for n, lead in enumerate(leads):
        lead.phone = f"+1212555{first_number + n:04d}"
    Lead.objects.unscoped().bulk_create(leads)
    due = timezone.now() - datetime.timedelta(minutes=1)
    CallLog.objects.unscoped().bulk_create(
        [CallLogFactory.build(lead=lead, status="scheduled", start_time=due) for lead in leads])


def wait_for(condition, seconds=120):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the worker did not finish in time"
        time.sleep(0.2)


def queue_is_empty():
    with app.connection_for_write() as connection:
        return connection.default_channel.client.llen("celery") == 0


def test_a_doubled_beat_and_four_workers_place_each_due_call_once_in_its_own_gym(
        gym, other_gym, fake_platform, worker, settings):
    settings.DISPATCH_BATCH_SIZE = 25  # many tasks per gym, taken by different threads at once
    callable_gym(gym, "+12125550100")
    callable_gym(other_gym, "+12125550101")
    due_calls(gym, 600, 0)
    due_calls(other_gym, 400, 1000)

    started = time.monotonic()
    tasks.dispatch_due_calls.delay()  # beat's tick...
    tasks.dispatch_due_calls.delay()  # ...and again at once: two beats, or one that fired twice
    wait_for(lambda: not CallLog.objects.unscoped().filter(retell_call_id__isnull=True).exists())
    wait_for(queue_is_empty)
    time.sleep(1)  # what the threads still hold finds nothing left to send
    seconds = time.monotonic() - started

    creates = [request["body"] for request in fake_platform.requests if request["path"] == "/v2/create-phone-call"]
    assert len(creates) == 1000, seconds
    assert max(Counter(body["idempotency_key"] for body in creates).values()) == 1
    calls = {str(call.pk): call for call in CallLog.objects.unscoped()}
    assert sorted(calls) == sorted(body["idempotency_key"] for body in creates)
    for body in creates:  # each call placed from its own gym, with that gym's agent and number
        call = calls[body["idempotency_key"]]
        assert body["metadata"]["gym_id"] == str(call.gym_id)
        assert body["override_agent_id"] == f"agent_{call.gym_id}"
        assert body["from_number"] == ("+12125550100" if call.gym_id == gym.pk else "+12125550101")


def test_the_dispatch_task_starts_one_task_per_gym_with_due_calls_and_none_for_others(
        gym, other_gym, fake_platform, monkeypatch):
    callable_gym(gym, "+12125550100")
    callable_gym(other_gym, "+12125550101")
    due_calls(gym, 3, 0)
    started = []
    monkeypatch.setattr(tasks.dispatch_gym_calls, "delay", lambda gym_id: started.append(gym_id))

    assert tasks.dispatch_due_calls() == 1

    assert started == [str(gym.pk)]
    assert fake_platform.requests == []  # the periodic task itself sends nothing


def test_beat_starts_tasks_that_exist():
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert scheduled == {"calls.dispatch_due_calls", "calls.reconcile_stuck_calls", "appointments.mark_no_shows",
                         "core.relay_outbox", "notifications.send_due_notifications", "leads.start_queued_imports"}
    assert scheduled <= set(app.tasks)


def test_reconciliation_runs_per_gym_on_the_worker(gym, other_gym, fake_platform, worker):
    callable_gym(gym, "+12125550100")
    lead = LeadFactory(gym=gym, consent_given_at=timezone.now(), consent_source="web form")
    sent = timezone.now() - datetime.timedelta(hours=2)  # stuck after 75 minutes, given up after a day
    stuck = CallLogFactory(lead=lead, status="in_progress", retell_call_id="call_stuck", dispatched_at=sent)
    fake_platform.calls["call_stuck"] = {
        "call_id": "call_stuck", "call_status": "ended", "direction": "outbound", "agent_id": f"agent_{gym.pk}",
        "from_number": "+12125550100", "to_number": lead.phone, "disconnection_reason": "user_hangup",
        "start_timestamp": int(sent.timestamp() * 1000), "end_timestamp": int(sent.timestamp() * 1000) + 60_000,
        "duration_ms": 60_000, "transcript": "", "metadata": {"gym_id": str(gym.pk), "lead_id": str(lead.pk),
                                                              "call_log_id": str(stuck.pk)}}

    tasks.reconcile_stuck_calls.delay()
    wait_for(lambda: CallLog.objects.unscoped().get(pk=stuck.pk).status != "in_progress", seconds=30)

    assert [request["path"] for request in fake_platform.requests] == ["/v2/get-call/call_stuck"]
