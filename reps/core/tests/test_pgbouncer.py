"""Behind PgBouncer in transaction mode: 50 gyms' requests interleaved over 2 server connections.

Every server connection serves one transaction of any client, then the next: the gym, its proof, the role and
the statement timeout live in the transaction (set_config(..., true)), so whatever one gym's request set is
gone before another's runs on the same connection. The production server (gunicorn, DB_POOL=0) talks to
PgBouncer as started by scripts/pgbouncer.sh with deploy/pgbouncer.ini, in front of a cluster of this test's
own; every answer is checked against what its own gym holds.
"""

import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import psycopg
import pytest
from django.db import InternalError, OperationalError, ProgrammingError

from reps.core.errors import exception_handler
from reps.core.tests.test_production_server import (
    BASE,
    Cluster,
    free_port,
    gunicorn_running,
    platform_shell,
)

GYMS = 50
SERVER_CONNECTIONS = 2


class PgBouncer:
    """scripts/pgbouncer.sh in front of `cluster`, on a port and in a folder of its own."""

    def __init__(self, cluster, pool_size, query_wait_timeout=10):
        self.port, self.dir = free_port(), cluster.root / f"pgbouncer-{free_port()}"
        self.env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{cluster.port}/reps",
                    "PGBOUNCER_PORT": str(self.port), "PGBOUNCER_DIR": str(self.dir),
                    "PGBOUNCER_POOL_SIZE": str(pool_size), "PGBOUNCER_QUERY_WAIT_TIMEOUT": str(query_wait_timeout)}

    def start(self):
        subprocess.run([str(BASE / "scripts" / "pgbouncer.sh")], env=self.env, check=True, capture_output=True,
                       timeout=120)

    def stop(self):
        subprocess.run([str(BASE / "scripts" / "pgbouncer.sh")], env={**self.env, "PGBOUNCER_STOP": "1"},
                       check=False, capture_output=True, timeout=30)

    def logins(self):
        """The application's and the platform's logins, through PgBouncer, with Django's own pool off."""
        return {"DATABASE_URL": f"postgres://reps_app@127.0.0.1:{self.port}/reps",
                "DATABASE_PLATFORM_URL": f"postgres://postgres@127.0.0.1:{self.port}/reps", "DB_POOL": "0"}

    def show(self, what):
        """SHOW POOLS, SHOW STATS, ...: PgBouncer's admin console, as rows of dicts."""
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="pgbouncer",
                             autocommit=True, prepare_threshold=None) as connection:
            cursor = connection.cursor()
            cursor.execute(f"SHOW {what}", prepare=False)
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def fifty_gyms():
    cluster = Cluster()
    cluster.start()
    bouncer = PgBouncer(cluster, pool_size=SERVER_CONNECTIONS)
    metrics_dir, port = tempfile.mkdtemp(prefix="reps-metrics-"), free_port()
    env = {**os.environ, "REPS_ENV": "production", "SECRET_KEY": "test-" + "k" * 60, "ALLOWED_HOSTS": "127.0.0.1",
           "SECURE_SSL_REDIRECT": "0", **bouncer.logins(), "REDIS_URL": "redis://127.0.0.1:6379/13",
           # 16 threads share the 2 server connections.
           "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "WEB_THREADS": "8",
           "PROMETHEUS_MULTIPROC_DIR": metrics_dir, "LOG_LEVEL": "WARNING"}
    log = open(cluster.root / "gunicorn.log", "w+")
    try:  # whatever fails from here, nothing is left running
        bouncer.start()
        subprocess.run([str(cluster.bin / "createdb"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres",
                        "reps"], check=True, timeout=60)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE, env=env, check=True,
                       timeout=300)
        gyms = json.loads(platform_shell(env, MAKE_GYMS))
        with gunicorn_running(env, log) as url:
            yield {"url": url, "gyms": gyms, "bouncer": bouncer, "cluster": cluster, "log": log}
    finally:
        log.close()
        bouncer.stop()
        cluster.remove()
        shutil.rmtree(metrics_dir, ignore_errors=True)


# Gym n has n % 4 + 1 leads named after it, and a no-show grace of 10 + n minutes.
MAKE_GYMS = f"""
import json
from accounts.models import ApiToken, Role, User
from gyms.models import GymSettings
from gyms.services import create_gym
from leads.models import Lead
from reps.tenancy.state import all_gyms
gyms = []
with all_gyms():
    owner = Role.objects.get(name="owner")
    for n in range({GYMS}):
        gym = create_gym(name=f"Gym-{{n:02d}}")
        GymSettings.objects.unscoped().filter(gym=gym).update(no_show_grace_minutes=10 + n)
        for k in range(n % 4 + 1):
            Lead.objects.unscoped().create(gym=gym, first_name=f"Lead{{k}}", last_name=f"Gymtag{{n:02d}}",
                                           phone=f"+1212555{{n * 10 + k:04d}}")
        user = User.objects.create_user(f"owner{{n}}@example.com", None, gym=gym, role=owner)
        gyms.append({{"n": n, "name": gym.name, "token": ApiToken.objects.create(user=user, name="t")[1]}})
print(json.dumps(gyms, separators=(",", ":")))
"""


def call(url, token, method="GET", body=None):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()[:500]


def one_gyms_requests(url, gym):
    """What gym `gym` asks, and what it must get: only its own rows and settings."""
    n, token, tag, other = gym["n"], gym["token"], f"Gymtag{gym['n']:02d}", f"Gymtag{(gym['n'] + 1) % GYMS:02d}"
    leads = n % 4 + 1

    def own_leads(page, at_least):
        names = {row["last_name"] for row in page["results"]}
        return names == {tag} and len(page["results"]) >= at_least

    return [
        (lambda: call(f"{url}/api/v1/leads/?page_size=50", token), lambda body: own_leads(body, leads)),
        (lambda: call(f"{url}/api/v1/leads/?search={tag}", token), lambda body: own_leads(body, leads)),
        (lambda: call(f"{url}/api/v1/leads/?search={other}", token), lambda body: body["results"] == []),
        (lambda: call(f"{url}/api/v1/gym/", token),
         lambda body: body["name"] == gym["name"] and body["settings"]["no_show_grace_minutes"] == 10 + n),
        (lambda: call(f"{url}/api/v1/leads/", token, "POST", {"first_name": "New", "last_name": tag,
                                                        "phone": f"+1212555{5000 + n:04d}"}),
         lambda body: body["last_name"] == tag),
        (lambda: call(f"{url}/api/v1/leads/stats/", token), lambda body: body["new"] in (leads, leads + 1)),
        (lambda: call(f"{url}/api/v1/leads/dashboard/", token), lambda body: body["lead_counts"]["new"] in (leads, leads + 1)),
    ]


def test_fifty_gyms_interleaved_over_two_server_connections_each_see_only_their_own(fifty_gyms):
    url, bouncer = fifty_gyms["url"], fifty_gyms["bouncer"]
    requests = [(gym, ask, check) for gym in fifty_gyms["gyms"] for ask, check in one_gyms_requests(url, gym)]
    random.Random(7).shuffle(requests)  # each server connection serves gyms in no order
    most_servers, most_waiting, stop = [0], [0], threading.Event()

    def watch():  # what PgBouncer and PostgreSQL hold while the requests run
        while not stop.is_set():
            for pool in bouncer.show("POOLS"):
                if pool["database"] == "reps" and pool["user"] == "reps_app":
                    servers = sum(pool[kind] for kind in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"))
                    most_servers[0] = max(most_servers[0], servers)
                    most_waiting[0] = max(most_waiting[0], pool["cl_waiting"])
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda item: (item[0], item[2], item[1]()), requests))
    finally:
        stop.set()
        watcher.join()

    wrong = [(gym["name"], status, str(body)[:300]) for gym, check, (status, body) in answers
             if status not in (200, 201) or not check(body)]
    assert not wrong, wrong
    assert len(answers) == GYMS * 7
    # The requests really shared the 2 server connections: never more, and clients queued for them.
    assert most_servers[0] <= SERVER_CONNECTIONS and most_waiting[0] > 0, (most_servers, most_waiting)
    stats = {row["database"]: row for row in bouncer.show("STATS")}
    assert stats["reps"]["total_xact_count"] >= len(answers)
    fifty_gyms["log"].seek(0)
    server_log = (fifty_gyms["cluster"].root / "server.log").read_text()
    for log in (fifty_gyms["log"].read(), server_log):
        for sign_of_trouble in ("prepared statement", "cursor", "Traceback", "current transaction is aborted"):
            assert sign_of_trouble not in log, log[-3000:]


def driver_error(django_class, psycopg_error):
    """A Django database error as Django wraps psycopg's (the driver's error as its cause)."""
    try:
        raise django_class(str(psycopg_error)) from psycopg_error
    except django_class as error:
        return error


@pytest.mark.parametrize("error, status", [
    # Behind PgBouncer, a server restarting under a transaction leaves psycopg out of step with it: an error
    # of the driver's own, with no SQLSTATE, which is the connection failing (seen in the outage test).
    (driver_error(InternalError, psycopg.InternalError("received 2 results from command 'COMMIT'")), 503),
    (driver_error(OperationalError, psycopg.OperationalError("server conn crashed?")), 503),
    # What the server answered is no outage: a refusal stays what it is.
    (driver_error(ProgrammingError, psycopg.errors.UndefinedColumn("column x does not exist")), 500),
])
def test_a_connection_that_fails_mid_transaction_answers_503_not_500(error, status):
    response = exception_handler(error, {})
    assert (response.status_code if response is not None else 500) == status
