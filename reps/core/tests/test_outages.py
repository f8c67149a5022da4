"""Outages under load: Redis killed, then PostgreSQL restarted, while requests are in flight.

Two app servers (gunicorn, production settings, on two ports) and two job workers with one beat share a
PostgreSQL cluster and a Redis of this test's own, so killing them disturbs nothing else; once straight to
PostgreSQL, once through PgBouncer in transaction mode (scripts/pgbouncer.sh). The requests, spread over both
servers, read, write and import leads (each import a job for the workers): whatever was answered as done or
accepted is in the database at the end, once.
"""

import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from reps.core.tests.test_pgbouncer import PgBouncer
from reps.core.tests.test_production_server import (
    BASE,
    Cluster,
    database_logins,
    free_port,
    get,
    gunicorn_running,
    platform_shell,
)

REQUESTS = 300
CLIENTS = 16
BOUND_SECONDS = 12  # no request may take longer: pool timeout 2 s, connect timeout 2 s, retries


class Redis:
    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="reps-redis-")
        self.process = None

    def start(self):
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no", "--dir", self.dir],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def remove(self):
        if self.process and self.process.poll() is None:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def running(command, env, log):
    """A process (a job worker, beat) until the block ends."""
    process = subprocess.Popen(command, cwd=BASE, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=60)


MAKE_USER = ("from gyms.services import create_gym; from accounts.models import User, Role; "
             "from accounts.models import ApiToken; g = create_gym(name='Load'); "
             "u = User.objects.create_user('load@example.com', None, gym=g, role=Role.objects.get(name='manager')); "
             "print(ApiToken.objects.create(user=u, name='load')[1])")


@pytest.fixture(scope="module", params=["direct", "pgbouncer"])
def stack(request):
    cluster, redis = Cluster(), Redis()
    cluster.start()
    redis.start()
    bouncer = PgBouncer(cluster, pool_size=10, query_wait_timeout=5) if request.param == "pgbouncer" else None
    env = {
        **os.environ,
        "REPS_ENV": "production", "SECRET_KEY": "test-" + "k" * 60, "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0", **(bouncer.logins() if bouncer else database_logins(cluster)),
        "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0", "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis.port}/1",
        "DB_POOL_TIMEOUT": "2", "DB_CONNECT_TIMEOUT": "2", "WEB_CONCURRENCY": "2", "WEB_THREADS": "4",
        "LOG_LEVEL": "ERROR",
        # Every import is a job; a job the broker lost is handed out again within seconds.
        "LEAD_IMPORT_ASYNC_ROWS": "1", "LEAD_IMPORT_SWEEP_SECONDS": "1", "LEAD_IMPORT_STALE_SECONDS": "10",
    }
    log = open(cluster.root / "processes.log", "w")  # removed with the cluster
    celery = str(Path(sys.executable).parent / "celery")
    try:  # whatever fails from here, nothing is left running
        if bouncer:
            bouncer.start()
        subprocess.run([str(cluster.bin / "createdb"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres",
                        "reps"], check=True, timeout=60)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE, env=env, check=True,
                       timeout=180)
        token = platform_shell(env, MAKE_USER)
        with contextlib.ExitStack() as processes:
            urls = [processes.enter_context(gunicorn_running(
                {**env, "BIND": f"127.0.0.1:{free_port()}", "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(
                    prefix="reps-metrics-", dir=cluster.root)}, log)) for _ in range(2)]
            for name in ("one", "two"):
                processes.enter_context(running([celery, "-A", "reps", "worker", "--pool", "threads", "--concurrency",
                                                 "2", "--loglevel", "WARNING", "-n", f"{name}@%h"], env, log))
            processes.enter_context(running([celery, "-A", "reps", "beat", "--loglevel", "WARNING", "--schedule",
                                             str(cluster.root / "beat-schedule")], env, log))
            yield {"urls": urls, "token": token, "cluster": cluster, "redis": redis, "env": env}
    finally:
        log.close()
        if bouncer:
            bouncer.stop()
        cluster.remove()
        redis.remove()


def multipart_csv(rows):
    """A CSV file of leads as POST /api/v1/leads/import/ takes it: (body, content type)."""
    boundary = "reps-outage-test"
    csv = "first_name,last_name,phone\n" + "".join(f"{first},{last},{phone}\n" for first, last, phone in rows)
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="leads.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n").encode()
    return body, f"multipart/form-data; boundary={boundary}"


IMPORT_ROWS = 3


def request(stack, n, offset):
    """One request of the mix, on one server or the other: reads (cached stats, a list) and writes (a new lead
    each, or an import of IMPORT_ROWS leads, which is a job for the workers)."""
    headers = {"Authorization": f"Token {stack['token']}", "Content-Type": "application/json"}
    kind, url = ("stats", "list", "create", "import")[n % 4], stack["urls"][(n // 4) % 2]
    if kind == "create":
        body = json.dumps({"first_name": f"Load{n}", "last_name": "Test",
                           "phone": f"+1212555{offset + n:04d}"}).encode()
        req = urllib.request.Request(f"{url}/api/v1/leads/", data=body, headers=headers, method="POST")
    elif kind == "import":
        body, headers["Content-Type"] = multipart_csv(
            [(f"Import{n}", str(k), f"+1212555{offset + 1000 + n * IMPORT_ROWS + k:04d}") for k in range(IMPORT_ROWS)])
        req = urllib.request.Request(f"{url}/api/v1/leads/import/", data=body, headers=headers, method="POST")
    else:
        path = "/api/v1/leads/stats/" if kind == "stats" else "/api/v1/leads/?page_size=5"
        req = urllib.request.Request(url + path, headers=headers)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=BOUND_SECONDS + 5) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    except OSError as error:
        status, payload = "no answer", str(error).encode()
    return kind, status, time.monotonic() - started, payload


def under_load(stack, offset, outage):
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(request, stack, n, offset) for n in range(REQUESTS)]
        time.sleep(0.5)
        outage()
        return [future.result() for future in futures]


def leads_in_database(stack):
    code = ("from leads.models import Lead; from reps.tenancy.state import all_gyms\n"
            "with all_gyms(): print(Lead.objects.unscoped().count())")
    return int(platform_shell(stack["env"], code))


def expected_leads(results):
    """Leads that the requests answered as created, or as an import job accepted (which must then run)."""
    created = sum(1 for kind, status, _, _ in results if kind == "create" and status == 201)
    return created + IMPORT_ROWS * sum(1 for kind, status, _, _ in results if kind == "import" and status == 202)


def import_jobs_once_done(stack, seconds=90):
    """{status: count} of the import jobs, once none is queued or running any more (or the time is up)."""
    code = ("import json; from leads.models import LeadImport; from django.db.models import Count;"
            " from reps.tenancy.state import all_gyms\n"
            "with all_gyms(): print(json.dumps({row['status']: row['n'] for row in LeadImport.objects.unscoped()"
            ".values('status').annotate(n=Count('id'))}, separators=(',', ':')))")
    deadline = time.monotonic() + seconds
    while True:
        jobs = json.loads(platform_shell(stack["env"], code))
        if not (jobs.keys() & {"queued", "running"}) or time.monotonic() > deadline:
            return jobs
        time.sleep(1)


def summary(results):
    counts = {}
    for kind, status, _, _ in results:
        counts[f"{kind} {status}"] = counts.get(f"{kind} {status}", 0) + 1
    return counts


def test_with_redis_killed_under_load_every_request_still_succeeds(stack):
    before = leads_in_database(stack)

    results = under_load(stack, 0, stack["redis"].kill)

    print("Redis killed under load:", summary(results), f"slowest {max(r[2] for r in results):.2f} s")
    assert all(status in (200, 201, 202) for _, status, _, _ in results), summary(results)
    assert max(seconds for _, _, seconds, _ in results) < BOUND_SECONDS
    stack["redis"].start()  # service goes on when it is back, and the jobs the broker lost are handed out again
    assert import_jobs_once_done(stack) == {"done": sum(1 for kind, _, _, _ in results if kind == "import")}
    assert leads_in_database(stack) == before + expected_leads(results)
    for url in stack["urls"]:
        assert get(f"{url}/healthz")[0] == 200


def test_with_postgres_restarted_under_load_requests_succeed_or_fail_cleanly(stack):
    before = leads_in_database(stack)
    jobs_before = import_jobs_once_done(stack).get("done", 0)

    def restart():
        stack["cluster"].stop()
        time.sleep(2)
        stack["cluster"].start()

    results = under_load(stack, 5000, restart)

    print("PostgreSQL restarted under load:", summary(results), f"slowest {max(r[2] for r in results):.2f} s")
    for kind, status, seconds, payload in results:
        assert status in (200, 201, 202, 503), (kind, status, payload[:300])
        assert seconds < BOUND_SECONDS, (kind, status, seconds)
        if status == 503:
            assert json.loads(payload)["detail"]  # a message, in the API's error shape
    accepted = sum(1 for kind, status, _, _ in results if kind == "import" and status == 202)
    assert import_jobs_once_done(stack) == {"done": jobs_before + accepted}  # every accepted job ran, once
    assert leads_in_database(stack) == before + expected_leads(results)  # nothing half-written, nothing lost
    for url in stack["urls"]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and get(f"{url}/healthz")[0] != 200:
            time.sleep(0.5)
        assert get(f"{url}/healthz")[0] == 200
