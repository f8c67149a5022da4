"""gunicorn settings for `make serve` (production mode). Every value can be set from the environment."""

import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1))
# Threads, so that a slow client holds one thread, not a whole worker (gunicorn's gthread worker also waits
# for an idle connection's first bytes without a thread). Behind a buffering proxy (deploy/nginx.conf) no
# slow client reaches gunicorn at all. Each process's database pool must have at least this many connections.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", 4))
timeout = int(os.environ.get("WEB_TIMEOUT", 30))
graceful_timeout = 20
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", 5000))  # recycle workers now and then
max_requests_jitter = 500
accesslog = "-"
errorlog = "-"
# The proxies whose X-Forwarded-* headers are believed: the same list as settings.TRUSTED_PROXIES.
forwarded_allow_ips = os.environ.get("TRUSTED_PROXIES", "")
wsgi_app = "reps.wsgi:application"

# prometheus_client keeps each worker's metrics in files here, so that
# /metrics can add up every worker. It must be set before any worker imports it.
metrics_dir = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="reps-metrics-"))


def on_starting(server):
    # Values left by an earlier run would be counted again.
    shutil.rmtree(metrics_dir, ignore_errors=True)
    os.makedirs(metrics_dir, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
