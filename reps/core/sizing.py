"""How many database connections Reps may hold at once, beside how many the database allows.

gunicorn.conf.py logs the answer from its first worker (README "Capacity and scaling"). Per database server
(aliases of one HOST and PORT add up), it counts:

- the app servers, APP_SERVERS in all, each of WEB_CONCURRENCY processes of WEB_THREADS threads. A thread serves
  one request at a time, so a process holds at most its pool's DB_POOL_MAX_SIZE connections of a pooled alias
  (the default follows WEB_THREADS), and one per thread of an alias without a pool: the platform login
  (DATABASE_PLATFORM_URL), which only /admin/ requests use, and every alias when DB_POOL=0;
- the job workers, JOB_WORKERS processes in all: each runs one task at a time, but its pool opens
  DB_POOL_MIN_SIZE connections from the start, so max(DB_POOL_MIN_SIZE, 1) each (one without a pool). They never
  use the platform login.

What the database allows is max_connections less superuser_reserved_connections and (PostgreSQL 16)
reserved_connections, as it says itself. Behind PgBouncer (DB_POOL=0) the count is of PgBouncer's client
connections: what has to fit in the database is PgBouncer's own pools, which Reps cannot see, and the check says
so rather than compare. Nothing here raises: with the database down it says it could not ask.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.conf import settings

PLATFORM_ALIAS = "platform"  # reps.settings: the platform admin's login, no pool, never used by jobs
# psycopg_pool's own defaults, for a pool configured as OPTIONS["pool"] = True or without sizes.
POOL_DEFAULT_MIN_SIZE = 4

LIMIT_SQL = """
SELECT current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int,
       COALESCE(current_setting('reserved_connections', true), '0')::int
"""


@dataclass(frozen=True)
class Limit:
    """What one database server allows (SHOW max_connections and the slots it keeps back)."""

    max_connections: int
    superuser_reserved: int
    reserved: int = 0

    @property
    def available(self) -> int:
        return self.max_connections - self.superuser_reserved - self.reserved

    def __str__(self) -> str:
        text = f"max_connections {self.max_connections} - superuser_reserved_connections {self.superuser_reserved}"
        return text + (f" - reserved_connections {self.reserved}" if self.reserved else "")


@dataclass
class Need:
    """The connections one database server may be asked for at once."""

    server: str
    database: dict[str, Any]  # the settings of one of its aliases, to ask it with
    app_servers: int
    workers: int
    job_workers: int
    per_process: list[tuple[str, int]] = field(default_factory=list)  # (what, connections) of one web process
    per_job_worker: int = 0
    pooled: bool = True  # False: an alias the jobs and requests use has no pool (DB_POOL=0, PgBouncer)

    @property
    def total(self) -> int:
        web = self.app_servers * self.workers * sum(n for _, n in self.per_process)
        return web + self.job_workers * self.per_job_worker

    def formula(self) -> str:
        process = " + ".join(f"{n} {what}" for what, n in self.per_process) or "0"
        text = f"APP_SERVERS {self.app_servers} x WEB_CONCURRENCY {self.workers} x ({process})"
        if self.per_job_worker:
            text += f" + JOB_WORKERS {self.job_workers} x {self.per_job_worker}"
        return f"{text} = {self.total}"


def pool_sizes(database: Mapping[str, Any]) -> tuple[int, int] | None:
    """(min_size, max_size) of an alias's pool, or None without one."""
    pool = database.get("OPTIONS", {}).get("pool")
    if not pool:
        return None
    options = pool if isinstance(pool, dict) else {}
    min_size = options.get("min_size", POOL_DEFAULT_MIN_SIZE)
    return min_size, options.get("max_size") or min_size


def server_of(database: Mapping[str, Any]) -> str:
    return f"{database.get('HOST') or 'localhost'}:{database.get('PORT') or 5432}"


def needs(workers: int, threads: int, *, databases: Mapping[str, Mapping[str, Any]] | None = None,
          app_servers: int | None = None, job_workers: int | None = None) -> list[Need]:
    """What each database server may be asked for by app servers of `workers` processes of `threads` threads."""
    databases = settings.DATABASES if databases is None else databases
    app_servers = settings.APP_SERVERS if app_servers is None else app_servers
    job_workers = settings.JOB_WORKERS if job_workers is None else job_workers
    by_server: dict[str, Need] = {}
    for alias, database in databases.items():
        server = server_of(database)
        need = by_server.setdefault(server, Need(server, dict(database), app_servers, workers, job_workers))
        sizes = pool_sizes(database)
        if alias == PLATFORM_ALIAS:
            need.per_process.append((f"admin ({alias} login, no pool)", threads))
        elif sizes is None:
            need.per_process.append((f"{alias}, no pool", threads))
            need.per_job_worker += 1
            need.pooled = False
        else:
            need.per_process.append((f"{alias} pool", sizes[1]))
            need.per_job_worker += max(sizes[0], 1)
    return list(by_server.values())


def server_limit(database: Mapping[str, Any]) -> Limit:
    """Ask the database server of these settings what it allows (a connection of its own, closed at once)."""
    params = {"dbname": database.get("NAME"), "user": database.get("USER"), "password": database.get("PASSWORD"),
              "host": database.get("HOST"), "port": database.get("PORT")}
    timeout = min(database.get("OPTIONS", {}).get("connect_timeout", 5), 3)  # the workers start after this
    with psycopg.connect(**{key: value for key, value in params.items() if value}, connect_timeout=timeout,
                         application_name="reps connection check", autocommit=True) as connection:
        row = connection.execute(LIMIT_SQL).fetchone()
    assert row is not None
    return Limit(*row)


def check_connections(workers: int, threads: int, *, databases: Mapping[str, Mapping[str, Any]] | None = None,
                      app_servers: int | None = None, job_workers: int | None = None,
                      limit_of: Callable[[Mapping[str, Any]], Limit] = server_limit) -> list[tuple[int, str]]:
    """(logging level, message) for each database server: a warning when it may be asked for more connections
    than it allows, else information (also when it could not be asked)."""
    findings = []
    for need in needs(workers, threads, databases=databases, app_servers=app_servers, job_workers=job_workers):
        where = f"Database connections on {need.server}"
        try:
            limit = limit_of(need.database)
        except Exception as error:  # the database down, a wrong password: start anyway
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            findings.append((logging.INFO, f"{where}: could not ask the database how many it allows ({reason}), "
                                           f"so this is not checked; this setup may hold {need.formula()}."))
            continue
        if not need.pooled:
            direct = "would fit" if need.total <= limit.available else "would be too many"
            findings.append((logging.INFO, (
                f"{where}: with DB_POOL=0 this setup may hold {need.formula()} client connections. Behind "
                f"PgBouncer, its max_client_conn must take them, and its server connections (default_pool_size "
                f"+ reserve_pool_size for each database and login) must fit in the {limit.available} the database "
                f"allows ({limit}); Reps cannot see PgBouncer's settings and does not check them. Straight to "
                f"the database, {need.total} {direct}.")))
        elif need.total > limit.available:
            findings.append((logging.WARNING, (
                f"{where}: this setup may hold {need.formula()} at once, more than the {limit.available} the "
                f"database allows ({limit}). Lower WEB_CONCURRENCY, WEB_THREADS, DB_POOL_MAX_SIZE or JOB_WORKERS, "
                f"raise max_connections, or put PgBouncer in front (DB_POOL=0); see README \"Capacity and "
                f"scaling\".")))
        else:
            findings.append((logging.INFO, f"{where}: this setup may hold {need.formula()} at once; the database "
                                           f"allows {limit.available} ({limit})."))
    return findings


def log_connection_check(log: Any, workers: int, threads: int) -> None:
    """Log check_connections() on `log` (gunicorn's logger, or any with .log(level, message)); never raises."""
    try:
        findings = check_connections(workers, threads)
    except Exception as error:  # settings that do not load say so again in every worker
        findings = [(logging.INFO, f"Database connections: could not check ({error}).")]
    for level, message in findings:
        log.log(level, message)
