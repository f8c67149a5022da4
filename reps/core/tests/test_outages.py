"""Outages under load: Redis killed, then PostgreSQL restarted, while requests are in flight.

The production server (gunicorn, production settings) runs against a PostgreSQL
cluster and a Redis of this test's own, so killing them disturbs nothing else.
"""

import concurrent.futures
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

import pytest

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


@pytest.fixture(scope="module")
def stack():
    cluster, redis = Cluster(), Redis()
    cluster.start()
    redis.start()
    metrics_dir, port = tempfile.mkdtemp(prefix="reps-metrics-"), free_port()
    env = {
        **os.environ,
        "REPS_ENV": "production", "SECRET_KEY": "test-" + "k" * 60, "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0", **database_logins(cluster),
        "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0", "DB_POOL_TIMEOUT": "2", "DB_CONNECT_TIMEOUT": "2",
        "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "WEB_THREADS": "4",
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir, "LOG_LEVEL": "ERROR",
    }
    subprocess.run([str(cluster.bin / "createdb"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres",
                    "reps"], check=True, timeout=60)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE, env=env, check=True,
                   timeout=180)
    make_user = ("from gyms.services import create_gym; from accounts.models import User, Role; "
                 "from accounts.models import ApiToken; g = create_gym(name='Load'); "
                 "u = User.objects.create_user('load@example.com', None, gym=g, role=Role.objects.get(name='sales')); "
                 "print(ApiToken.objects.create(user=u, name='load')[1])")
    token = platform_shell(env, make_user)
    log = open(cluster.root / "gunicorn.log", "w")  # removed with the cluster
    try:
        with gunicorn_running(env, log) as url:
            yield {"url": url, "token": token, "cluster": cluster, "redis": redis, "env": env}
    finally:
        log.close()
        cluster.remove()
        redis.remove()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def request(stack, n, offset):
    """One request of the mix: reads (cached stats, a list) and writes (a new lead each)."""
    headers = {"Authorization": f"Token {stack['token']}", "Content-Type": "application/json"}
    kind = ("stats", "list", "create")[n % 3]
    if kind == "create":
        body = json.dumps({"first_name": f"Load{n}", "last_name": "Test",
                           "phone": f"+1212555{offset + n:04d}"}).encode()
        req = urllib.request.Request(f"{stack['url']}/api/v1/leads/", data=body, headers=headers, method="POST")
    else:
        path = "/api/v1/leads/stats/" if kind == "stats" else "/api/v1/leads/?page_size=5"
        req = urllib.request.Request(stack["url"] + path, headers=headers)
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


def summary(results):
    counts = {}
    for kind, status, _, _ in results:
        counts[f"{kind} {status}"] = counts.get(f"{kind} {status}", 0) + 1
    return counts


def test_with_redis_killed_under_load_every_request_still_succeeds(stack):
    before = leads_in_database(stack)

    results = under_load(stack, 0, stack["redis"].kill)

    print("Redis killed under load:", summary(results), f"slowest {max(r[2] for r in results):.2f} s")
    assert all(status in (200, 201) for _, status, _, _ in results), summary(results)
    assert max(seconds for _, _, seconds, _ in results) < BOUND_SECONDS
    created = sum(1 for kind, status, _, _ in results if kind == "create" and status == 201)
    assert leads_in_database(stack) == before + created
    stack["redis"].start()  # service goes on when it is back
    assert get(f"{stack['url']}/healthz")[0] == 200


def test_with_postgres_restarted_under_load_requests_succeed_or_fail_cleanly(stack):
    before = leads_in_database(stack)

    def restart():
        stack["cluster"].stop()
        time.sleep(2)
        stack["cluster"].start()

    results = under_load(stack, 5000, restart)

    print("PostgreSQL restarted under load:", summary(results), f"slowest {max(r[2] for r in results):.2f} s")
    for kind, status, seconds, payload in results:
        assert status in (200, 201, 503), (kind, status, payload[:300])
        assert seconds < BOUND_SECONDS, (kind, status, seconds)
        if status == 503:
            assert json.loads(payload)["detail"]  # a message, in the API's error shape
    created = sum(1 for kind, status, _, _ in results if kind == "create" and status == 201)
    assert leads_in_database(stack) == before + created  # nothing half-written, nothing lost
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and get(f"{stack['url']}/healthz")[0] != 200:
        time.sleep(0.5)
    assert get(f"{stack['url']}/healthz")[0] == 200
