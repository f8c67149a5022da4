"""The job engine: Celery, its broker Redis, its settings the CELERY_* ones of reps.settings.

Workers: `celery -A reps worker`; the schedule (CELERY_BEAT_SCHEDULE): `celery -A reps beat`. Each app's
tasks live in its `tasks.py`. A task that spans gyms only finds the gyms (a SECURITY DEFINER question) and
starts one task per gym; each gym's task works through the services, in the gym's transaction, as the
application role under row-level security.
"""

import os
from typing import Any

from celery import Celery
from celery.signals import task_failure, task_retry, task_success

from reps.core.metrics import TASKS

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reps.settings")

app = Celery("reps")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def count(task: Any, outcome: str) -> None:
    TASKS.labels(task=getattr(task, "name", str(task)), outcome=outcome).inc()


@task_success.connect
def succeeded(sender: Any = None, **kwargs: Any) -> None:
    count(sender, "succeeded")


@task_failure.connect
def failed(sender: Any = None, **kwargs: Any) -> None:
    count(sender, "failed")


@task_retry.connect
def retried(sender: Any = None, **kwargs: Any) -> None:
    count(sender, "retried")
