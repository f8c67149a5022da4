"""Pool sizes follow the worker threads, and gunicorn warns at start-up when every app server and job worker
together may hold more connections than the database allows (reps.core.sizing)."""

import logging
import os
import runpy
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from reps.core import sizing
from reps.core.sizing import Limit, check_connections, log_connection_check, needs

BASE = Path(settings.BASE_DIR)
SIZING_ENV = ("WEB_THREADS", "DB_POOL_MAX_SIZE", "DB_POOL_MIN_SIZE", "DB_POOL", "APP_SERVERS", "JOB_WORKERS",
              "DATABASE_REPLICA_URL")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fresh_settings(monkeypatch):
    """fresh_settings(**env): reps/settings.py read again with these environment variables (and no other of
    the sizing ones), as a new process would read it."""
    for name in SIZING_ENV:
        monkeypatch.delenv(name, raising=False)

    def read(**env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(BASE / "reps" / "settings.py"))

    return read


def pool_of(settings_module):
    pool = settings_module["DATABASES"]["default"]["OPTIONS"]["pool"]
    return pool["min_size"], pool["max_size"]


def test_the_pool_follows_the_worker_threads_by_default(fresh_settings):
    assert pool_of(fresh_settings()) == (2, 10)  # outside gunicorn (it sets WEB_THREADS): psycopg's 10
    assert pool_of(fresh_settings(WEB_THREADS="7")) == (2, 7)
    assert pool_of(fresh_settings(WEB_THREADS="1")) == (1, 1)  # never a minimum above the maximum


def test_explicit_pool_sizes_win(fresh_settings):
    assert pool_of(fresh_settings(WEB_THREADS="3", DB_POOL_MAX_SIZE="9")) == (2, 9)
    assert pool_of(fresh_settings(WEB_THREADS="3", DB_POOL_MIN_SIZE="0", DB_POOL_MAX_SIZE="5")) == (0, 5)
    with pytest.raises(ImproperlyConfigured, match="DB_POOL_MIN_SIZE"):
        fresh_settings(DB_POOL_MIN_SIZE="5", DB_POOL_MAX_SIZE="3")
    with pytest.raises(ImproperlyConfigured, match="DB_POOL_MAX_SIZE"):
        fresh_settings(DB_POOL_MAX_SIZE="0")


def test_the_sizing_settings_and_their_defaults(fresh_settings):
    assert (fresh_settings()["APP_SERVERS"], fresh_settings()["JOB_WORKERS"]) == (1, os.cpu_count())
    assert (fresh_settings(APP_SERVERS="3")["APP_SERVERS"], fresh_settings(JOB_WORKERS="8")["JOB_WORKERS"]) == (3, 8)


def database(port=5432, pool=(2, 4), host="127.0.0.1"):
    options = {"pool": {"min_size": pool[0], "max_size": pool[1]}} if pool else {}
    return {"NAME": "reps", "USER": "reps_app", "HOST": host, "PORT": port, "OPTIONS": options}


def limit_of(max_connections, superuser_reserved=3):
    return lambda database: Limit(max_connections, superuser_reserved)


def levels(findings):
    return [logging.getLevelName(level) for level, _ in findings]


def test_what_is_counted_per_database_server():
    """A pool's maximum per web process; a connection per thread of the platform login (no pool, admin
    requests only); a job worker holds its pool's minimum and never the platform login; another server (a
    replica) adds up on its own."""
    databases = {"default": database(), "platform": database(pool=None),
                 "replica": database(port=5433, pool=(1, 4))}

    primary, replica = needs(3, 4, databases=databases, app_servers=2, job_workers=5)

    assert (primary.server, replica.server) == ("127.0.0.1:5432", "127.0.0.1:5433")
    assert primary.total == 2 * 3 * (4 + 4) + 5 * 2
    assert primary.formula() == ("APP_SERVERS 2 x WEB_CONCURRENCY 3 x (4 default pool + 4 admin (platform login, "
                                 "no pool)) + JOB_WORKERS 5 x 2 = 58")
    assert replica.total == 2 * 3 * 4 + 5 * 1


def test_a_warning_when_the_sum_exceeds_max_connections_and_none_otherwise():
    databases = {"default": database()}  # 1 app server x 3 processes x 4 + 2 job workers x 2 = 16

    at_the_limit = check_connections(3, 4, databases=databases, app_servers=1, job_workers=2,
                                     limit_of=limit_of(19))  # 19 - 3 reserved = 16
    over = check_connections(3, 4, databases=databases, app_servers=1, job_workers=2, limit_of=limit_of(18))
    two_servers = check_connections(3, 4, databases=databases, app_servers=2, job_workers=2,
                                    limit_of=limit_of(19))

    assert levels(at_the_limit) == ["INFO"]
    assert "= 16 at once; the database allows 16 (max_connections 19 - superuser_reserved_connections 3)" in (
        at_the_limit[0][1])
    assert levels(over) == ["WARNING"]
    assert "= 16 at once, more than the 15 the database allows" in over[0][1]
    assert "Lower WEB_CONCURRENCY, WEB_THREADS, DB_POOL_MAX_SIZE or JOB_WORKERS" in over[0][1]
    assert levels(two_servers) == ["WARNING"]
    assert "APP_SERVERS 2 x WEB_CONCURRENCY 3 x (4 default pool) + JOB_WORKERS 2 x 2 = 28" in two_servers[0][1]


@pytest.mark.django_db
def test_the_check_asks_the_database_itself():
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        max_connections = int(cursor.fetchone()[0])
        cursor.execute("SHOW superuser_reserved_connections")
        reserved = int(cursor.fetchone()[0])
    default = settings.DATABASES["default"]  # with a pool, also when the suite runs with DB_POOL=0
    databases = {"default": {**default, "OPTIONS": {**default["OPTIONS"], "pool": {"min_size": 2, "max_size": 4}}}}

    (small,) = check_connections(1, 1, databases=databases, app_servers=1, job_workers=0)
    (large,) = check_connections(4, 4, databases=databases, app_servers=max_connections, job_workers=0)

    assert small[0] == logging.INFO
    assert f"allows {max_connections - reserved} (max_connections {max_connections} - " in small[1]
    assert large[0] == logging.WARNING
    assert f"more than the {max_connections - reserved} the database allows" in large[1]


def test_behind_pgbouncer_the_check_says_what_to_compare_instead_of_warning():
    databases = {"default": database(pool=None)}  # DB_POOL=0

    (finding,) = check_connections(3, 4, databases=databases, app_servers=50, job_workers=2, limit_of=limit_of(100))

    assert finding[0] == logging.INFO
    assert "with DB_POOL=0 this setup may hold APP_SERVERS 50 x WEB_CONCURRENCY 3 x (4 default, no pool) + " \
           "JOB_WORKERS 2 x 1 = 602 client connections" in finding[1]
    assert "PgBouncer, its max_client_conn must take them" in finding[1]
    assert "must fit in the 97 the database allows" in finding[1]
    assert "Straight to the database, 602 would be too many." in finding[1]


def test_with_the_database_down_the_check_says_it_could_not_ask():
    databases = {"default": {**database(port=free_port()), "OPTIONS": {"connect_timeout": 2, "pool": {
        "min_size": 2, "max_size": 4}}}}

    (finding,) = check_connections(3, 4, databases=databases, app_servers=1, job_workers=2)

    assert finding[0] == logging.INFO
    assert "could not ask the database how many it allows (connection failed:" in finding[1]
    assert "so this is not checked; this setup may hold APP_SERVERS 1 x WEB_CONCURRENCY 3 x (4 default pool) + " \
           "JOB_WORKERS 2 x 2 = 16." in finding[1]


def test_logging_the_check_never_raises(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ImproperlyConfigured("SECRET_KEY must be set when REPS_ENV=production")

    monkeypatch.setattr(sizing, "check_connections", broken)
    with caplog.at_level(logging.INFO, logger="sizing-test"):
        log_connection_check(logging.getLogger("sizing-test"), workers=2, threads=4)

    assert caplog.messages == [
        "Database connections: could not check (SECRET_KEY must be set when REPS_ENV=production)."]


# gunicorn itself (make serve's server), one worker: the check is in its start-up log.

def database_url(**changes):
    db = {**settings.DATABASES["default"], **changes}
    login = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{login}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def gunicorn_log(tmp_path, *args, **env):
    """Start gunicorn (gunicorn.conf.py) with one worker, wait until it answers /livez, stop it: its log."""
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    environment = {**{k: v for k, v in os.environ.items() if k not in SIZING_ENV}, "BIND": f"127.0.0.1:{port}",
                   "WEB_CONCURRENCY": "1", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
                   "DATABASE_PLATFORM_URL": "", "JOB_WORKERS": "2", **env}
    with open(log_path, "w") as log:
        process = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--config", "gunicorn.conf.py",
                                    *args], cwd=BASE, env=environment, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=2) as response:
                        assert response.status == 200
                        break
                except OSError:
                    assert process.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, log_path.read_text()
                    time.sleep(0.2)
        finally:
            process.terminate()
            process.wait(timeout=30)
    return log_path.read_text()


@pytest.mark.django_db
def test_gunicorn_warns_at_start_up_and_its_pools_follow_its_threads(tmp_path):
    log = gunicorn_log(tmp_path, "--threads", "3", DATABASE_URL=database_url(), APP_SERVERS="1000")

    warning = next(line for line in log.splitlines() if "[WARNING] Database connections on" in line)
    assert "APP_SERVERS 1000 x WEB_CONCURRENCY 1 x (3 default pool) + JOB_WORKERS 2 x 2 = 3004 at once" in warning


def test_gunicorn_starts_with_the_database_down_and_says_it_could_not_check(tmp_path):
    log = gunicorn_log(tmp_path, DATABASE_URL=f"postgres://reps_app@127.0.0.1:{free_port()}/reps")

    assert "[INFO] Database connections on 127.0.0.1:" in log
    assert "could not ask the database how many it allows" in log
    assert "Traceback" not in log
