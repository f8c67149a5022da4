"""gunicorn settings for `make serve` (production mode). Every value can be set from the environment."""

import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1))
# Threads, so that a slow client holds one thread, not a whole worker (gunicorn's gthread worker also waits
# for an idle connection's first bytes without a thread). Behind a buffering proxy (deploy/nginx.conf) no
# slow client reaches gunicorn at all. Each process's database pool has as many connections (reps.settings: the
# default DB_POOL_MAX_SIZE follows WEB_THREADS, which on_starting sets to the threads run, set here or not).
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
    # The workers' pools follow the threads they run (also --threads on the command line): they inherit this.
    os.environ["WEB_THREADS"] = str(server.cfg.threads)


def post_worker_init(worker):
    # Once, in the first worker, which has loaded the application: do all app servers and job workers fit in the
    # database's connections? A warning if not; never a failure (with the database down it says it could not
    # ask). Not in the master: what it imports, workers forked after a reload (HUP) would keep, old settings too.
    if worker.age == 1:
        from reps.core.sizing import log_connection_check

        log_connection_check(worker.log, workers=worker.cfg.workers, threads=worker.cfg.threads)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
