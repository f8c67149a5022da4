"""Operations endpoints: /livez, /healthz, /metrics. No authentication, no gym, no transaction."""

import contextlib
import hmac
import os
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

from reps.tenancy.database import GYM_PROOFS_NOT_BELIEVED, gym_proofs_believed

from . import jobs
from .cache import VOICE_PLATFORM_FAILURE_KEY, health
from .observability import pool_stats
from .security import client_address


def metrics_allowed(request):
    if settings.METRICS_TOKEN:
        return hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {settings.METRICS_TOKEN}")
    # The client's address, not the connecting one: behind a proxy every request connects from the proxy.
    return client_address(request) in settings.METRICS_ALLOWED_IPS


POOL_WARNING_RATIO = 0.8  # the seed's "high connection pool usage"
MIGRATIONS_RECHECK_SECONDS = 60


@never_cache
def livez(request):
    """The process answers: nothing else is touched."""
    return JsonResponse({"status": "alive"})


@never_cache
def healthz(request):
    """The database, its pool, the cache and the migrations; 503 naming what fails.

    A failing cache is reported but is no 503: the API serves from the
    database without it, so the instance should stay in service.
    """
    failing, warnings, checks = [], [], {}

    database = timed_check(database_round_trip)
    checks["database"] = database
    if not database["ok"]:
        failing.append("database")
    else:
        pending = unapplied_migrations()
        checks["migrations"] = {"ok": pending == 0, "unapplied": pending}
        if pending:
            failing.append("migrations")
        else:
            checks["gym_context"] = timed_check(gym_context_round_trip)
            if not checks["gym_context"]["ok"]:
                failing.append("gym_context")

    pool = pool_stats()
    if pool is not None:
        checks["pool"] = pool
        if pool["in_use"] > POOL_WARNING_RATIO * pool["max_size"]:
            warnings.append("High connection pool usage")

    checks["cache"] = timed_check(cache_round_trip)
    if not checks["cache"]["ok"]:
        warnings.append("Cache unreachable: reads go to the database")
    else:
        with contextlib.suppress(Exception):
            failure = cache.get(VOICE_PLATFORM_FAILURE_KEY)
            if failure:
                warnings.append(f"Voice platform: a call failed for the account, telephony or platform"
                                f" ({failure['reason']}) at {failure['at']}; its lead will be called again")

    # The job engine: no 503, the API serves without it; what it must do waits in PostgreSQL, nothing is lost.
    checks["broker"] = timed_check(jobs.broker_round_trip)
    if not checks["broker"]["ok"]:
        warnings.append("Job broker unreachable: background work (calls, no-shows, the outbox) waits until it is back")
    elif checks["cache"]["ok"]:
        late = jobs.late_ticks()
        checks["beat"] = {"ok": not late, "late": late}
        warnings += [f"Beat or every worker is down: {one}" for one in late]

    body = {"status": "unhealthy" if failing else "healthy", "failing": failing, "warnings": warnings,
            "checks": checks}
    return JsonResponse(body, status=503 if failing else 200)


def timed_check(check):
    started = time.perf_counter()
    try:
        check()
    except Exception as error:
        return {"ok": False, "error": f"{type(error).__name__}: {error}".strip()[:300]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


def database_round_trip():
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def gym_context_round_trip():
    if not gym_proofs_believed():
        raise RuntimeError(GYM_PROOFS_NOT_BELIEVED)


def cache_round_trip():
    key = f"healthz:{os.getpid()}"
    cache.set(key, 1, timeout=10)
    if cache.get(key) != 1:
        raise RuntimeError("the cache did not keep a value")
    health.reset()  # the cache answers: stop bypassing it


_migrations = {"checked": 0.0, "pending": 0}
_migrations_lock = threading.Lock()


def unapplied_migrations():
    """How many migrations are not applied; re-read at most once a minute (loading the graph is not free)."""
    with _migrations_lock:
        if time.monotonic() - _migrations["checked"] >= MIGRATIONS_RECHECK_SECONDS or _migrations["pending"]:
            executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
            _migrations["pending"] = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
            _migrations["checked"] = time.monotonic()
        return _migrations["pending"]


# Counted by the workers in the cache, whichever process or machine ran the task (reps.core.jobs).
TASK_OUTCOMES = CollectorRegistry()
TASK_OUTCOMES.register(jobs.TaskOutcomes())


@never_cache
def metrics_view(request):
    """Prometheus text format; under gunicorn, the sum over every worker process.

    For the scraper only: with METRICS_TOKEN set, `Authorization: Bearer <it>`; else a client from
    METRICS_ALLOWED_IPS (the address that connected, not a forwarded one). Anyone else gets a 404.
    """
    if not metrics_allowed(request):
        return JsonResponse({"status": 404, "code": "not_found", "detail": "Not found."}, status=404)
    jobs.read_gauges()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry) + generate_latest(TASK_OUTCOMES),
                        content_type=CONTENT_TYPE_LATEST)
