"""The leads' background work on the job engine (reps/celery.py): import jobs (leads.imports, "Import jobs").

run_import runs one gym's import job; it may run twice, or after a worker died mid-import (tasks are
acknowledged late): the job is claimed under a row lock that other runs skip, and only a queued job, or a
running one whose worker stopped noting progress, can be claimed. start_queued_imports, started by beat,
finds the gyms with jobs the broker never got (it was down when they were queued) or whose worker died, and
starts one start_gym_imports each, which hands those jobs to the broker again.
"""

import logging
import uuid
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from reps.core.jobs import start_per_gym
from reps.tenancy.database import gyms_with_pending_imports

from . import imports

logger = logging.getLogger(__name__)


@shared_task(name="leads.run_import")
def run_import(gym_id: str, job_id: str) -> str:
    """Run the gym's import job unless another run holds it (imports.run_import_job); what became of it."""
    return imports.run_import_job(gym=uuid.UUID(gym_id), job_id=uuid.UUID(job_id))


MAX_UPLOAD_BYTES = 10 * 1024 * 1024


def import_upload(*, gym: uuid.UUID, upload: Any, on_duplicate: str, created_by: Any) -> tuple[Any, Any]:
    """A CSV file sent to the API or the workspace: (its report, None) when imported at once, or (None, the
    job) above LEAD_IMPORT_ASYNC_ROWS rows, handed to the broker once the caller's transaction commits.
    ValidationError keyed "file" for a file it cannot take."""
    if upload.size > MAX_UPLOAD_BYTES:
        raise ValidationError({"file": f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB."})
    try:
        text = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError({"file": "The file is not UTF-8 text."}) from None
    rows = imports.needs_job(text)
    if rows is None:
        report = imports.import_leads(gym=gym, text=text, on_duplicate=on_duplicate, source_name=upload.name,
                                      max_rows=settings.IMPORT_MAX_ROWS, max_seconds=settings.IMPORT_MAX_SECONDS)
        return report.as_dict(), None
    if rows > settings.IMPORT_MAX_ROWS:
        raise imports.too_many_rows(settings.IMPORT_MAX_ROWS)
    job = imports.queue_import(gym=gym, text=text, rows_total=rows, on_duplicate=on_duplicate,
                               source_name=upload.name, created_by=created_by)
    # Once the job is committed, so that the worker finds it; a broker that is down leaves it queued.
    transaction.on_commit(lambda: start_import(gym, job.pk))
    return None, job


def start_import(gym_id: uuid.UUID, job_id: uuid.UUID) -> bool:
    """Hand a queued job to the broker (after the transaction that queued it committed); False when the
    broker cannot take it: the job stays queued, noted as not handed over, and the sweep starts it later."""
    try:
        # One attempt, of at most a second: a request that queued a job does not wait on a broker that is down
        # (the pool's connection retries for seconds); the sweep tries again instead.
        with run_import.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=0, timeout=1)
            run_import.apply_async((str(gym_id), str(job_id)), retry=False, connection=connection)
    except Exception:  # the broker is down or unreachable: the job is in PostgreSQL, not lost
        logger.warning("import job %s could not be handed to the broker; the sweep will start it", job_id,
                       exc_info=True)
        try:
            imports.not_enqueued(gym=gym_id, job_id=job_id)
        except Exception:  # nor the database: the sweep finds it once its hand-over is stale
            logger.exception("import job %s: could not note that the broker did not take it", job_id)
        return False
    return True


@shared_task(name="leads.start_queued_imports")
def start_queued_imports() -> int:
    """Start start_gym_imports for each gym with import jobs to (re)start; how many gyms."""
    return start_per_gym(start_queued_imports,
                         lambda: gyms_with_pending_imports(timezone.now() - imports.stale_after()),
                         start_gym_imports)


@shared_task(name="leads.start_gym_imports")
def start_gym_imports(gym_id: str) -> int:
    """Hand the gym's pending import jobs to the broker, one run_import each; how many it took."""
    gym = uuid.UUID(gym_id)
    ids = imports.take_pending_imports(gym=gym)
    return sum(start_import(gym, job_id) for job_id in ids)
