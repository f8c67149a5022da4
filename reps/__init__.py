# The job engine, loaded with Django so that @shared_task binds to it (reps/celery.py).
from .celery import app as celery_app

__all__ = ["celery_app"]
