"""The production server (gunicorn, production settings) against a PostgreSQL of its own that we stop and start.

The cluster is a throwaway one under /tmp, so stopping it disturbs nothing
else; it needs the PostgreSQL server binaries, as `make test` does.
"""

import concurrent.futures
import contextlib
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

BASE = Path(settings.BASE_DIR)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_binaries():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    assert initdb, "The PostgreSQL server binaries (initdb, pg_ctl) are needed for this test."
    return Path(initdb).parent


class Cluster:
    def __init__(self):
        self.bin = server_binaries()
        self.root = Path(tempfile.mkdtemp(prefix="reps-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.port = free_port()
        # initdb refuses to run as root: run the cluster as the postgres user then.
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_owner:
            shutil.chown(self.root, "postgres")
        self.run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")

    def run(self, program, *args, check=True):
        return subprocess.run([*self.as_owner, str(self.bin / program), *map(str, args)], check=check,
                              capture_output=True, text=True, timeout=120)

    def start(self):
        self.run("pg_ctl", "-D", self.data, "-l", self.root / "server.log", "-w", "-t", "60", "-o",
                 f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}", "start")

    def stop(self):
        self.run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", check=False)

    def remove(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def get(url, timeout=15):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@contextlib.contextmanager
def gunicorn_running(env, log):
    """gunicorn with gunicorn.conf.py and `env`, answering /livez, until the block ends."""
    process = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--config", "gunicorn.conf.py"],
                               cwd=BASE, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://{env['BIND']}"
    try:
        for _ in range(100):
            try:
                if get(f"{url}/livez", timeout=1)[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def server():
    cluster = Cluster()
    cluster.start()
    metrics_dir = tempfile.mkdtemp(prefix="reps-metrics-")
    port = free_port()
    env = {
        **os.environ,
        "REPS_ENV": "production", "SECRET_KEY": "test-" + "k" * 60, "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0", "DATABASE_URL": f"postgres://postgres@127.0.0.1:{cluster.port}/reps",
        "REDIS_URL": "redis://127.0.0.1:6379/13", "DB_POOL_TIMEOUT": "2", "DB_CONNECT_TIMEOUT": "2",
        "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        "LOGIN_RATE": "10000/minute",  # these tests sign in again and again on purpose
    }
    subprocess.run([str(cluster.bin / "createdb"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres",
                    "reps"], check=True, timeout=60)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE, env=env, check=True,
                   timeout=180)
    log = open(Path(metrics_dir).with_suffix(".log"), "w+")
    try:
        with gunicorn_running(env, log) as url:
            yield {"url": url, "cluster": cluster, "metrics_dir": metrics_dir, "log": log}
    finally:
        cluster.remove()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        log.close()
        os.unlink(log.name)


def test_metrics_count_requests_from_every_worker(server):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: get(f"{server['url']}/livez")[0], range(40)))
    assert statuses == [200] * 40

    status, text = get(f"{server['url']}/metrics")

    families = {family.name: family for family in text_string_to_metric_families(text)}
    livez = [s.value for s in families["reps_http_requests"].samples
             if s.name == "reps_http_requests_total" and s.labels["view"] == "livez"]
    assert sum(livez) >= 40  # the startup probes are counted too
    workers = {Path(path).stem.split("_")[-1] for path in glob.glob(f"{server['metrics_dir']}/counter_*.db")}
    assert len(workers) == 2, workers


def test_healthz_follows_the_database_down_and_back(server):
    url = server["url"]
    assert get(f"{url}/healthz")[0] == 200

    server["cluster"].stop()
    started = time.monotonic()
    status, body = get(f"{url}/healthz")
    assert status == 503
    assert json.loads(body)["failing"] == ["database"]
    assert time.monotonic() - started < 10  # bounded by the pool and connect timeouts

    server["cluster"].start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, body = get(f"{url}/healthz")
        if status == 200:
            break
        time.sleep(0.5)
    assert status == 200, body
    # Every worker serves again (each pool reconnects on its own): logins read the database.
    in_a_row = 0
    while time.monotonic() < deadline + 30 and in_a_row < 8:
        in_a_row = in_a_row + 1 if login_status(url) == 401 else 0
    assert in_a_row == 8


def login_status(url):
    request = urllib.request.Request(f"{url}/api/v1/auth/token/", data=b'{"email": "a@b.test", "password": "x"}',
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_with_the_database_down_the_api_answers_503_not_500(server):
    server["cluster"].stop()
    try:
        status = login_status(server["url"])
    finally:
        server["cluster"].start()

    assert status == 503
