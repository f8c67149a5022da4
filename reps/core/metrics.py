"""Every Prometheus metric of the app, in one place; /metrics exposes them.

Under gunicorn, PROMETHEUS_MULTIPROC_DIR is set (gunicorn.conf.py) before
this module is imported, and prometheus_client then keeps each worker's
values in files there, so /metrics adds up every worker.
"""

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

HTTP_REQUESTS = Counter("reps_http_requests", "HTTP requests handled.", ["view", "method", "status"])
HTTP_LATENCY = Histogram("reps_http_request_duration_seconds", "Time to handle an HTTP request.",
                         ["view", "method"], buckets=LATENCY_BUCKETS)

DB_QUERIES = Counter("reps_db_queries", "SQL statements run.")
DB_QUERY_LATENCY = Histogram("reps_db_query_duration_seconds", "Time to run one SQL statement.",
                             buckets=LATENCY_BUCKETS)
DB_SLOW_QUERIES = Counter("reps_db_slow_queries", "SQL statements slower than SLOW_QUERY_MS.")

# The heavy reads that may use the read replica (reps.tenancy.replica), by the database that answered them: the
# replica (reason "ok"), or the primary and why: "written" (the request had written), "lagging" (more than
# REPLICA_MAX_LAG_SECONDS behind), "behind" (a value to cache, missing a commit), "failed" (the replica failed
# on this read), "down" (left alone for REPLICA_RETRY_SECONDS after a failure).
DB_READS = Counter("reps_db_reads", "Heavy reads that may use the read replica, by the database that answered"
                   " them and why.", ["database", "reason"])
DB_REPLICA_LAG = Gauge("reps_db_replica_lag_seconds", "The read replica's lag, as a worker last measured it (at most"
                       " once a second; +Inf: not replaying).", multiprocess_mode="mostrecent")

# Summed over the live worker processes.
DB_POOL_SIZE = Gauge("reps_db_pool_size", "Connections in the pool.", multiprocess_mode="livesum")
DB_POOL_IN_USE = Gauge("reps_db_pool_in_use", "Pooled connections lent out.", multiprocess_mode="livesum")
DB_POOL_WAITING = Gauge("reps_db_pool_waiting", "Requests waiting for a pooled connection.",
                        multiprocess_mode="livesum")

CACHE_HITS = Counter("reps_cache_hits", "Cached repository reads served from the cache.", ["namespace"])
CACHE_MISSES = Counter("reps_cache_misses", "Cached repository reads computed from the database.", ["namespace"])
CACHE_ERRORS = Counter("reps_cache_errors", "Cache operations that failed (Redis unreachable or erroring).",
                       ["operation"])
# Calls that failed for the voice-platform account, its telephony or the platform itself (not the lead).
VOICE_PLATFORM_FAILURES = Counter("reps_voice_platform_failures", "Calls failed by the voice platform's account,"
                                  " telephony or service, by disconnection reason.", ["reason"])

# The job engine (reps/core/jobs.py): read at scrape time. Tasks by outcome are counted in Redis by the workers
# (every worker, on any machine) and read from there too (jobs.TaskOutcomes).
JOBS_QUEUE_DEPTH = Gauge("reps_jobs_queue_depth", "Tasks waiting in the broker's queue, read at scrape time.",
                         multiprocess_mode="mostrecent")
OLDEST_DUE_CALL_AGE = Gauge("reps_calls_oldest_due_age_seconds",
                            "How long the longest-waiting due AI call has been due (0: none), read at scrape time.",
                            multiprocess_mode="mostrecent")
