"""The job engine: Celery, its broker Redis, its settings the CELERY_* ones of reps.settings.

Workers: `celery -A reps worker`; the schedule (CELERY_BEAT_SCHEDULE): `celery -A reps beat`. Each app's
tasks live in its `tasks.py`. A task that spans gyms only finds the gyms (a SECURITY DEFINER question) and
starts one task per gym; each gym's task works through the services, in the gym's transaction, as the
application role under row-level security.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reps.settings")

app = Celery("reps")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

