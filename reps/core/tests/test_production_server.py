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
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from calls.voice import sign

BASE = Path(settings.BASE_DIR)
WEBHOOK_KEY = "test-webhook-key"


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


def database_logins(cluster):
    """As in production: the application logs in as reps_app, migrations and the admin as the platform login."""
    return {"DATABASE_URL": f"postgres://reps_app@127.0.0.1:{cluster.port}/reps",
            "DATABASE_PLATFORM_URL": f"postgres://postgres@127.0.0.1:{cluster.port}/reps"}


def platform_shell(env, code):
    """Run Python in `manage.py shell` with the platform login; its last printed word."""
    out = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", code], cwd=BASE,
                         env={**env, "DATABASE_URL": env["DATABASE_PLATFORM_URL"]}, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return out.split()[-1] if out.split() else ""


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
        "SECURE_SSL_REDIRECT": "0", **database_logins(cluster),
        "REDIS_URL": "redis://127.0.0.1:6379/13", "DB_POOL_TIMEOUT": "2", "DB_CONNECT_TIMEOUT": "2",
        "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        "LOGIN_FAILURE_LIMIT": "10000",  # these tests sign in again and again on purpose
        "RETELL_API_KEY": WEBHOOK_KEY, "RETELL_API_BASE": f"http://127.0.0.1:{free_port()}",  # nothing answers
    }
    subprocess.run([str(cluster.bin / "createdb"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres",
                    "reps"], check=True, timeout=60)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE, env=env, check=True,
                   timeout=180)
    log = open(Path(metrics_dir).with_suffix(".log"), "w+")
    try:
        with gunicorn_running(env, log) as url:
            yield {"url": url, "cluster": cluster, "metrics_dir": metrics_dir, "log": log, "env": env}
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


def test_the_application_works_as_reps_app_and_the_admin_as_the_platform_login(server):
    """The whole way through with production's two logins: row-level security applies to all but the admin."""
    env, url = server["env"], server["url"]
    wait_until_healthy(url)  # after the tests above stopped the database
    ids = platform_shell(env, (
        "from gyms.services import create_gym; from accounts.models import User, Role\n"
        "from leads.models import Lead; from calls.models import CallLog\n"
        "from django.utils import timezone\n"
        "a, b = create_gym(name='Gym A', phone='+12125550190'), create_gym(name='Gym B')\n"
        "for g in (a, b): User.objects.create_user(f'staff@{g.name[-1].lower()}.test', 'pw-12345678', gym=g,"
        " role=Role.objects.get(name='owner'))\n"
        "User.objects.create_superuser('root@reps.test', 'pw-12345678')\n"
        "la = Lead.objects.create(gym=a, first_name='Alice', last_name='A', phone='+12125550111')\n"
        "lb = Lead.objects.create(gym=b, first_name='Bob', last_name='B', phone='+12125550122')\n"
        "CallLog.objects.create(gym=b, lead=lb, is_ai_call=True, status='scheduled', start_time=timezone.now())\n"
        "print(f'{la.pk},{lb.pk}')"))
    alice, bob = ids.split(",")

    # Gym staff: token sign-in, a list with only their gym's lead.
    token = post_json(f"{url}/api/v1/auth/token/", {"email": "staff@a.test", "password": "pw-12345678"})["token"]
    leads = get_json(f"{url}/api/v1/leads/", token)
    assert [row["id"] for row in leads["results"]] == [alice]

    # The voice platform: an inbound call to gym A's number, found by the gym-finding functions.
    body = json.dumps({"event": "call_ended", "call": {
        "call_id": "live-1", "direction": "inbound", "from_number": "+12125550111", "to_number": "+12125550190",
        "call_status": "ended", "start_timestamp": 1_700_000_000_000, "end_timestamp": 1_700_000_060_000}}).encode()
    answer = post_json(f"{url}/api/v1/webhooks/voice/retell/", body,
                       headers={"X-Retell-Signature": sign(body, WEBHOOK_KEY)})
    assert answer["applied"] is True and answer["status"] == "processed", answer
    assert [call["lead"] for call in get_json(f"{url}/api/v1/calls/", token)["results"]] == [alice]

    # The dispatcher, a job with the application's login: gym B's due call is claimed and tried in gym B.
    dispatched = subprocess.run([sys.executable, "manage.py", "dispatch_calls"], cwd=BASE, env=env, check=True,
                                capture_output=True, text=True, timeout=120).stdout
    assert "sent: 0" in dispatched and " 1" in dispatched, dispatched
    assert platform_shell(env, "from calls.models import CallLog; from reps.tenancy.state import all_gyms\n"
                               "with all_gyms(): print(CallLog.objects.unscoped().get(retell_call_id=None,"
                               " lead__first_name='Bob').status)") in ("failed", "scheduled")

    # The platform admin signs in and sees both gyms' leads.
    admin_get = session_for(url, "/admin/login/", "root@reps.test", "pw-12345678")
    status, page = admin_get("/admin/leads/lead/")
    assert status == 200 and "Alice" in page and "Bob" in page

    # Who is connected: the server's pools as reps_app, the admin as the platform login.
    with psycopg.connect(env["DATABASE_PLATFORM_URL"]) as connection:
        users = {row[0] for row in connection.execute(
            "SELECT usename FROM pg_stat_activity WHERE datname = 'reps' AND pid <> pg_backend_pid()")}
    assert "reps_app" in users, users
    assert bob not in json.dumps(leads)

    # Gym staff in the browsable API: a session, kept by the application's login through the session functions.
    staff_get = session_for(url, "/api-auth/login/", "staff@a.test", "pw-12345678")
    status, page = staff_get("/api/v1/leads/?format=json")
    assert status == 200 and [row["id"] for row in json.loads(page)["results"]] == [alice]

    # Someone who knows reps_app's password, by hand: gym B by setting a variable, the sessions, a function.
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as intruder:
        intruder.execute("SELECT set_config('reps.gym_id', %s, false)", [platform_shell(env, (
            "from gyms.models import Gym; from reps.tenancy.state import all_gyms\n"
            "with all_gyms(): print(Gym.objects.get(name='Gym B').pk)"))])
        assert intruder.execute("SELECT count(*) FROM leads_lead").fetchone()[0] == 0
        assert intruder.execute("SELECT count(*) FROM accounts_apitoken").fetchone()[0] == 0
        for statement in ["SELECT session_key FROM django_session", "SELECT key FROM reps_gym_context_key",
                          "CREATE TEMPORARY TABLE peek (id uuid)"]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                intruder.execute(statement)


def wait_until_healthy(url):
    """Until both workers answer /healthz with 200 (eight in a row: each pool reconnects on its own time)."""
    deadline, in_a_row = time.monotonic() + 60, 0
    while in_a_row < 8:
        assert time.monotonic() < deadline, "the server did not come back"
        in_a_row = in_a_row + 1 if get(f"{url}/healthz")[0] == 200 else 0
        if not in_a_row:
            time.sleep(0.5)


def post_json(url, body, token=None, headers=()):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json", **({"Authorization": f"Token {token}"} if token else {}), **dict(headers)})
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read())


def get_json(url, token):
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read())


def session_for(url, login_path, email, password):
    """GET pages after signing in through a login form (/admin/login/, /api-auth/login/), CSRF token and all.

    Cookies are carried by hand: production settings mark them Secure,
    which urllib's cookie jar keeps off plain http.
    """
    import http.client
    import re

    host, port = url.removeprefix("http://").split(":")
    cookies = {}

    def fetch(method, path, body=None):
        connection = http.client.HTTPConnection(host, int(port), timeout=15)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()), "Referer": f"{url}{login_path}"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, value = header.split(";", 1)[0].split("=", 1)
            cookies[name] = value
        return response.status, response.read().decode()

    status, form = fetch("GET", login_path)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    status, _ = fetch("POST", login_path, urllib.parse.urlencode(
        {"csrfmiddlewaretoken": csrf, "username": email, "password": password}))
    assert status == 302, f"the sign-in at {login_path} failed"
    return lambda path: fetch("GET", path)


def readme_block(heading):
    """The first ```sh block under the README's `heading`."""
    text = (BASE / "README.md").read_text()
    section = text[text.index(f"\n{heading}\n"):]
    return section[section.index("```sh\n") + len("```sh\n"):section.index("\n```", section.index("```sh\n"))]


def test_the_readme_api_examples_work_when_pasted(server):
    """The README's curl examples, pasted as written into bash, against the demo on the production server."""
    env = server["env"]
    subprocess.run([sys.executable, "manage.py", "seed_demo"], cwd=BASE, check=True, capture_output=True,
                   timeout=300, env={**env, "DATABASE_URL": env["DATABASE_PLATFORM_URL"]})
    script = readme_block("## The API").replace("localhost:8000", server["url"].removeprefix("http://"))

    run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120)

    assert run.returncode == 0, run.stderr
    decoder, answers, rest = json.JSONDecoder(), [], run.stdout.strip()
    while rest:
        answer, end = decoder.raw_decode(rest)
        answers.append(answer)
        rest = rest[end:].strip()
    leads, contacted, booked = answers
    assert leads["count"] > 0 and {lead["status"] for lead in leads["results"]} <= {"new", "contacted"}
    assert contacted["status"] == "contacted"
    assert booked["lead"] == contacted["id"] and booked["staff"] and booked["scheduled_time"].endswith(
        ("-05:00", "-04:00")) and "T10:00:00" in booked["scheduled_time"]


def test_slowly_trickling_clients_do_not_stop_the_server_answering(server):
    """Three clients that send their headers a byte a second held every sync worker; threads keep answering."""
    host, port = server["url"].removeprefix("http://").split(":")
    slow = []
    for _ in range(3):
        sock = socket.create_connection((host, int(port)))
        sock.sendall(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        slow.append(sock)
    try:
        for _ in range(3):  # they keep trickling while /livez is asked
            for sock in slow:
                sock.sendall(b"X")
            started = time.monotonic()
            status, _ = get(f"{server['url']}/livez", timeout=8)
            assert status == 200 and time.monotonic() - started < 2
            time.sleep(1)
    finally:
        for sock in slow:
            sock.close()
