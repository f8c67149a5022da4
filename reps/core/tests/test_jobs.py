"""What /healthz and /metrics say of the job engine: the broker, beat's ticks, the queue, due calls, tasks."""

import datetime
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.cache import cache
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from appointments import tasks as appointment_tasks
from calls import tasks as call_tasks
from calls.tests.factories import CallLogFactory
from leads.tests.factories import LeadFactory
from reps.celery import app
from reps.core import jobs, tasks

pytestmark = pytest.mark.django_db


def beat_tasks(settings):
    return {entry["task"]: float(entry["schedule"]) for entry in settings.CELERY_BEAT_SCHEDULE.values()}


def test_healthz_warns_when_a_periodic_task_missed_two_ticks_and_not_before(client, settings, monkeypatch):
    schedule = beat_tasks(settings)
    now = time.time()
    for task, interval in schedule.items():
        cache.set(jobs.tick_key(task), now - interval)  # one tick late: beat may just be slow
    assert client.get("/healthz").json()["checks"]["beat"] == {"ok": True, "late": []}

    cache.set(jobs.tick_key("calls.dispatch_due_calls"), now - 3 * schedule["calls.dispatch_due_calls"])
    body = client.get("/healthz").json()

    assert body["status"] == "healthy"  # the API still serves
    assert body["checks"]["beat"]["ok"] is False
    assert [warning for warning in body["warnings"] if "calls.dispatch_due_calls" in warning] == [
        "Beat or every worker is down: calls.dispatch_due_calls last ran 180 s ago (every 60 s)"]

    cache.delete(jobs.tick_key("calls.dispatch_due_calls"))  # never ran: late once the process is old enough
    monkeypatch.setattr(jobs, "STARTED", now - 1000)
    assert any("calls.dispatch_due_calls has not run since this process started" in warning
               for warning in client.get("/healthz").json()["warnings"])


def test_a_periodic_task_notes_its_tick(settings):
    cache.delete(jobs.tick_key("core.relay_outbox"))
    tasks.relay_outbox.apply()  # run here, as a worker would

    assert abs(cache.get(jobs.tick_key("core.relay_outbox")) - time.time()) < 5


def test_healthz_warns_when_the_broker_is_unreachable_but_stays_healthy(client, settings):
    assert client.get("/healthz").json()["checks"]["broker"]["ok"]
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    body = client.get("/healthz").json()

    assert body["status"] == "healthy" and not body["checks"]["broker"]["ok"]
    assert "Job broker unreachable: background work (calls, no-shows, the outbox) waits until it is back" in (
        body["warnings"])


def metrics(client):
    families = text_string_to_metric_families(client.get("/metrics").content.decode())
    return {sample.name: sample.value for family in families for sample in family.samples if not sample.labels}


def test_metrics_show_the_queue_and_how_long_the_oldest_due_call_has_waited(client, gym, other_gym):
    app.control.purge()
    CallLogFactory(lead=LeadFactory(gym=gym), status="scheduled",
                   start_time=timezone.now() - datetime.timedelta(minutes=5))
    CallLogFactory(lead=LeadFactory(gym=other_gym), status="scheduled",
                   start_time=timezone.now() - datetime.timedelta(minutes=2))
    CallLogFactory(lead=LeadFactory(gym=gym), status="scheduled",
                   start_time=timezone.now() + datetime.timedelta(minutes=30))  # not yet due
    tasks.relay_gym_outbox.delay(str(gym.pk))
    tasks.relay_gym_outbox.delay(str(other_gym.pk))  # no worker takes them

    shown = metrics(client)
    app.control.purge()

    assert shown["reps_jobs_queue_depth"] == 2
    assert 295 <= shown["reps_calls_oldest_due_age_seconds"] <= 330


@pytest.mark.django_db(transaction=True)
def test_metrics_count_each_tasks_outcomes_over_every_worker(gym, client):
    def finished(outcome):
        families = text_string_to_metric_families(client.get("/metrics").content.decode())
        return sum(sample.value for family in families for sample in family.samples
                   if sample.name == "reps_tasks_total"
                   and sample.labels == {"task": "core.relay_gym_outbox", "outcome": outcome})

    before, failed_before = finished("succeeded"), finished("failed")
    app.control.purge()
    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, shutdown_timeout=30):
        tasks.relay_gym_outbox.delay(str(gym.pk))
        tasks.relay_gym_outbox.delay("not a gym id")
        deadline = time.monotonic() + 30
        while finished("succeeded") + finished("failed") < before + failed_before + 2:
            assert time.monotonic() < deadline, "the worker did not run the tasks"
            time.sleep(0.2)
    app.control.purge()

    assert finished("succeeded") == before + 1 and finished("failed") == failed_before + 1
    # In the cache, where the web's /metrics reads what any worker on any machine counted.
    assert jobs.task_outcomes()[("core.relay_gym_outbox", "succeeded")] == before + 1

@pytest.mark.parametrize("task", [tasks.relay_outbox, call_tasks.dispatch_due_calls, call_tasks.reconcile_stuck_calls,
                                  appointment_tasks.mark_no_shows])
def test_a_periodic_task_refuses_to_start_any_gym_when_the_database_does_not_believe_its_gym_proofs(
        task, settings):
    settings.SECRET_KEY = "another key than the one the last migrate stored"

    with pytest.raises(jobs.GymProofsNotBelieved):
        task.apply(throw=True)
