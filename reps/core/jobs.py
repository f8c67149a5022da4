"""What /healthz and /metrics tell of the job engine (reps/celery.py): the broker, beat's ticks, the queue.

Each periodic task notes when it ran (note_tick, in the cache); a task of beat's schedule that has not run
for two of its intervals means beat, or every worker, is down. Task outcomes are counted by the worker's
signal handlers (reps/celery.py).
"""

import contextlib
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from reps.celery import app
from reps.tenancy.database import oldest_due_call

from .metrics import JOBS_QUEUE_DEPTH, OLDEST_DUE_CALL_AGE

STARTED = time.time()  # a process younger than two intervals has not yet missed a tick
QUEUE = "celery"  # Celery's default queue, the only one


def tick_key(task: str) -> str:
    return f"jobs:tick:{task}"


def note_tick(task: str) -> None:
    """The periodic task `task` ran now (at worst unnoted: the cache is down, which /healthz reports)."""
    with contextlib.suppress(Exception):
        cache.set(tick_key(task), time.time(), timeout=7 * 86400)


def late_ticks(now: float | None = None) -> list[str]:
    """Beat's tasks that have not run for two of their intervals, as /healthz words them."""
    now = now or time.time()
    late = []
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        interval = float(entry["schedule"])
        last = cache.get(tick_key(entry["task"]))
        if last is None and now - STARTED > 2 * interval:
            late.append(f"{entry['task']} has not run since this process started ({now - STARTED:.0f} s ago)")
        elif last is not None and now - last > 2 * interval:
            late.append(f"{entry['task']} last ran {now - last:.0f} s ago (every {interval:.0f} s)")
    return late


def broker_client(broker_url: str | None = None) -> Any:
    connection = app.connection_for_write(broker_url or settings.CELERY_BROKER_URL)
    connection.ensure_connection(max_retries=1, timeout=1)
    return connection


def broker_round_trip() -> None:
    with broker_client() as connection:
        connection.default_channel.client.ping()


def read_gauges() -> None:
    """Set the engine's gauges for this scrape: the queue's depth and the oldest due call's wait."""
    with contextlib.suppress(Exception), broker_client() as connection:
        JOBS_QUEUE_DEPTH.set(connection.default_channel.client.llen(QUEUE))
    with contextlib.suppress(Exception):
        due = oldest_due_call(timezone.now())
        OLDEST_DUE_CALL_AGE.set(max(0.0, (timezone.now() - due).total_seconds()) if due else 0)
