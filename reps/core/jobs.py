"""What /healthz and /metrics tell of the job engine (reps/celery.py): the broker, beat's ticks, the queue,
the tasks' outcomes.

Each periodic task notes when it ran (note_tick, in the cache); a task of beat's schedule that has not run
for two of its intervals means beat, or every worker, is down. Every worker counts its tasks' outcomes in
the cache too (Celery's signals, below), so /metrics shows them whichever machine ran them.
"""

import contextlib
import functools
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from celery.signals import task_failure, task_retry, task_success
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily

from reps.celery import app
from reps.tenancy.database import GYM_PROOFS_NOT_BELIEVED, gym_proofs_believed, oldest_due_call

from .metrics import JOBS_QUEUE_DEPTH, OLDEST_DUE_CALL_AGE

STARTED = time.time()  # a process younger than two intervals has not yet missed a tick
QUEUE = "celery"  # Celery's default queue, the only one


class GymProofsNotBelieved(RuntimeError):
    pass


def require_gym_proofs() -> None:
    """Raise unless the database believes this process's gym proofs: each gym's task would see no rows, and
    report nothing to do (a periodic task calls it before it starts any)."""
    if not gym_proofs_believed():
        raise GymProofsNotBelieved(GYM_PROOFS_NOT_BELIEVED)


def start_per_gym(periodic: Any, gyms: Callable[[], list[uuid.UUID]], per_gym: Any) -> int:
    """A periodic task's body: note its tick, refuse to start without believed gym proofs, then start the task
    `per_gym` once for each gym that `gyms()` names (the database's answer, asked before any gym is known);
    how many gyms."""
    note_tick(periodic.name)
    require_gym_proofs()
    found = gyms()
    for gym_id in found:
        per_gym.delay(str(gym_id))
    return len(found)


CARRY_ON_TASKS = 2


def carry_on(task: Any, gym_id: str, counts: dict[str, int], batch: int) -> dict[str, int]:
    """A gym's task did a whole batch (`counts` by outcome): start it again, twice, for the rest. So a gym with
    much to do spreads over the free workers within a few batches rather than one batch after another on one
    (each task claims its own batch under row locks the others skip); a task that finds nothing starts none."""
    if sum(counts.values()) >= batch:
        for _ in range(CARRY_ON_TASKS):
            task.delay(gym_id)
    return counts


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
    with broker_client():  # connected, or it raised
        pass


def read_gauges() -> None:
    """Set the engine's gauges for this scrape: the queue's depth and the oldest due call's wait."""
    with contextlib.suppress(Exception), broker_client() as connection:
        JOBS_QUEUE_DEPTH.set(connection.default_channel.queue_declare(QUEUE, passive=True).message_count)
    with contextlib.suppress(Exception):
        due = oldest_due_call(timezone.now())
        OLDEST_DUE_CALL_AGE.set(max(0.0, (timezone.now() - due).total_seconds()) if due else 0)


OUTCOMES = ("succeeded", "failed", "retried")


def outcome_key(task: str, outcome: str) -> str:
    return f"jobs:tasks:{task}:{outcome}"


def count_outcome(task: Any, outcome: str) -> None:
    key = outcome_key(getattr(task, "name", str(task)), outcome)
    with contextlib.suppress(Exception):  # an unreachable cache loses the count, not the task
        cache.add(key, 0, timeout=None)
        cache.incr(key)


@task_success.connect
def succeeded(sender: Any = None, **kwargs: Any) -> None:
    count_outcome(sender, "succeeded")


@task_failure.connect
def failed(sender: Any = None, **kwargs: Any) -> None:
    count_outcome(sender, "failed")


@task_retry.connect
def retried(sender: Any = None, **kwargs: Any) -> None:
    count_outcome(sender, "retried")


@functools.cache
def task_names() -> list[str]:
    """The project's tasks (each app's tasks.py), found once per process."""
    app.loader.import_default_modules()
    return sorted(name for name in app.tasks if not name.startswith("celery."))


def task_outcomes() -> dict[tuple[str, str], int]:
    """{(task, outcome): how many} over every worker, for the project's tasks."""
    keys = {outcome_key(name, outcome): (name, outcome) for name in task_names() for outcome in OUTCOMES}
    found = cache.get_many(list(keys))
    return {keys[key]: int(value) for key, value in found.items()}


class TaskOutcomes:
    """`reps_tasks_total{task, outcome}` for /metrics, from the counts in the cache."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("reps_tasks", "Background tasks finished, by outcome, over every worker.",
                                     labels=["task", "outcome"])
        with contextlib.suppress(Exception):
            for (task, outcome), count in sorted(task_outcomes().items()):
                family.add_metric([task, outcome], count)
        yield family
