"""Request ids, request metrics, and the timing of every SQL statement.

- RequestMiddleware gives each request an id (the caller's X-Request-ID if it
  is sane, else a new one), returns it in X-Request-ID, puts it on every log
  line of the request, and counts and times the request by view and status.
- QueryTimer wraps every statement of every database connection: it counts
  and times them, and logs those slower than SLOW_QUERY_MS with their
  duration, the SQL without its parameters, where they came from (the view,
  and the first frame of our own code: a repository method, a service) and
  the request id.
"""

import logging
import re
import sys
import time
import traceback
import uuid
from contextvars import ContextVar
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.db.backends.signals import connection_created
from django.dispatch import receiver

from . import metrics

logger = logging.getLogger("reps.sql")

request_id = ContextVar("reps_request_id", default="-")
request_view = ContextVar("reps_request_view", default="-")

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
PROJECT_ROOT = str(Path(settings.BASE_DIR).resolve())
LIBRARIES = ("site-packages", "/.venv/", "/lib/python")
THIS_FILE = str(Path(__file__).resolve())
# TenantQuerySet's safety-net overrides run every query; the caller is the origin.
SAFETY_NET_FILE = str(Path(__file__).resolve().parent.parent / "tenancy" / "queryset.py")
SAFETY_NET_METHODS = {"_fetch_all", "iterator", "count", "exists", "aggregate", "update", "delete", "explain"}


class RequestIdFilter(logging.Filter):
    """Adds request_id (and the view) to every log record."""

    def filter(self, record):
        record.request_id = request_id.get()
        record.view = request_view.get()
        return True


class RequestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        rid_token, view_token = request_id.set(rid), request_view.set("-")
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = rid
            view = request_view.get()
            # Only the real methods: an invented one would make a series of its own.
            method = request.method if request.method in HTTP_METHODS else "other"
            metrics.HTTP_REQUESTS.labels(view, method, str(response.status_code)).inc()
            metrics.HTTP_LATENCY.labels(view, method).observe(time.perf_counter() - started)
            record_pool_state()
            return response
        finally:
            request_id.reset(rid_token)
            request_view.reset(view_token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = getattr(request, "resolver_match", None)
        request_view.set(match.view_name if match and match.view_name else view_name(view_func))


def view_name(view_func):
    target = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None) or view_func
    return f"{target.__module__}.{getattr(target, '__qualname__', type(target).__name__)}"


def record_pool_state():
    """Copy this process's connection-pool numbers into the pool gauges."""
    stats = pool_stats()
    if stats is not None:
        metrics.DB_POOL_SIZE.set(stats["size"])
        metrics.DB_POOL_IN_USE.set(stats["in_use"])
        metrics.DB_POOL_WAITING.set(stats["waiting"])


def pool_stats():
    """{"size", "in_use", "waiting", "max_size"} of the default database's pool, or None without a pool."""
    pool = getattr(connections["default"], "pool", None)
    if pool is None:
        return None
    stats = pool.get_stats()
    size = stats.get("pool_size", 0)
    return {
        "size": size,
        "in_use": size - stats.get("pool_available", 0),
        "waiting": stats.get("requests_waiting", 0),
        "max_size": pool.max_size,
    }


class QueryTimer:
    """A connection.execute_wrapper: times every statement, logs and counts the slow ones."""

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - started
            metrics.DB_QUERIES.inc()
            metrics.DB_QUERY_LATENCY.observe(elapsed)
            if elapsed * 1000 >= settings.SLOW_QUERY_MS:
                metrics.DB_SLOW_QUERIES.inc()
                origin = query_origin()
                # The SQL keeps its placeholders: parameter values (phones, emails) stay out of the logs.
                logger.warning("slow query: %.1f ms from %s: %s", elapsed * 1000, origin, sql,
                               extra={"duration_ms": round(elapsed * 1000, 1), "sql": sql, "origin": origin,
                                      "request_id": request_id.get()})


def query_origin():
    """The view of the request, and the innermost frame of our own code that ran the query."""
    for frame in reversed(traceback.extract_stack(sys._getframe(1))):
        path = frame.filename
        if not path.startswith(PROJECT_ROOT) or path == THIS_FILE or any(part in path for part in LIBRARIES):
            continue
        if path == SAFETY_NET_FILE and frame.name in SAFETY_NET_METHODS:
            continue
        where = f"{Path(path).relative_to(PROJECT_ROOT)}:{frame.lineno} in {frame.name}"
        return f"{request_view.get()} ({where})"
    return request_view.get()


@receiver(connection_created)
def time_every_query(sender, connection, **kwargs):
    if not any(isinstance(wrapper, QueryTimer) for wrapper in connection.execute_wrappers):
        connection.execute_wrappers.append(QueryTimer())
