"""The read replica, for real: a throwaway primary and its streaming replica, and the production server on both.

The heavy reads (stats, metrics, the dashboards, lists and search) are answered by the replica under the
same row-level security; a request that wrote reads on the primary; a replica that is stopped, or lags more
than REPLICA_MAX_LAG_SECONDS, leaves the reads to the primary until it is back. Which database answered is
told by reps_db_reads_total, and shown by the replica's own data (a replica that has not replayed a new
lead lists without it) and statistics. Needs the PostgreSQL server binaries, as `make test` does.
"""

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reps.core.tests.test_production_server import (
    BASE,
    Cluster,
    database_logins,
    free_port,
    gunicorn_running,
    platform_shell,
    session_for,
)

MAX_LAG = 3  # REPLICA_MAX_LAG_SECONDS of the server under test
PASSWORD = "pw-12345678"


class Replica:
    """A streaming replica of `primary` (pg_basebackup -R -X stream) in a data directory beside it."""

    def __init__(self, primary):
        self.primary, self.port = primary, free_port()
        self.data = primary.root / "replica"
        primary.run("pg_basebackup", "-h", "127.0.0.1", "-p", primary.port, "-U", "postgres", "-D", self.data,
                    "-R", "-X", "stream", "-c", "fast")

    def start(self):
        self.primary.run("pg_ctl", "-D", self.data, "-l", self.primary.root / "replica.log", "-w", "-t", "60",
                         "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.primary.root}", "start")

    def stop(self):
        self.primary.run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", check=False)

    def sql(self, statement, *params):
        with psycopg.connect(f"postgres://postgres@127.0.0.1:{self.port}/reps", autocommit=True) as connection:
            return connection.execute(statement, params).fetchall()

    def execute(self, statement):
        """A statement that returns no rows (ALTER SYSTEM)."""
        with psycopg.connect(f"postgres://postgres@127.0.0.1:{self.port}/reps", autocommit=True) as connection:
            connection.execute(statement)


@pytest.fixture(scope="module")
def stack():
    primary = Cluster()
    primary.start()
    replica = Replica(primary)
    replica.start()
    metrics_dir = tempfile.mkdtemp(prefix="reps-metrics-")
    env = {
        **os.environ,
        "REPS_ENV": "production", "SECRET_KEY": "test-" + "r" * 60, "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0", **database_logins(primary),
        "DATABASE_REPLICA_URL": f"postgres://reps_app@127.0.0.1:{replica.port}/reps",
        "REPLICA_MAX_LAG_SECONDS": str(MAX_LAG), "REPLICA_RETRY_SECONDS": "1", "REPLICA_CONNECT_TIMEOUT": "2",
        "DB_POOL_TIMEOUT": "2", "DB_CONNECT_TIMEOUT": "2", "BIND": f"127.0.0.1:{free_port()}",
        # One process: its breaker and its lag are the ones the tests see.
        "WEB_CONCURRENCY": "1", "WEB_THREADS": "2", "PROMETHEUS_MULTIPROC_DIR": metrics_dir, "LOG_LEVEL": "ERROR",
        "LOGIN_FAILURE_LIMIT": "10000",
    }
    try:
        subprocess.run([str(primary.bin / "createdb"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                        "reps"], check=True, timeout=60)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE, env=env, check=True,
                       timeout=180)
        gyms = json.loads(platform_shell(env, MAKE_GYMS))
        log = open(primary.root / "gunicorn.log", "w")  # removed with the cluster
        with gunicorn_running(env, log) as url:
            yield {"url": url, "env": env, "replica": replica, "primary": primary, **gyms}
        log.close()
    finally:
        replica.stop()
        primary.remove()
        shutil.rmtree(metrics_dir, ignore_errors=True)


# Gym A: 2 leads (Alice, Anna), a call. Gym B: 3 leads (Bob, Bea, Ben), two calls. An owner each, with a
# token never used yet (its first use is noted: a write, held until the commit).
MAKE_GYMS = """
import json
from django.utils import timezone
from gyms.services import create_gym
from accounts.models import ApiToken, Role, User
from leads.models import Lead
from calls.models import CallLog
out = {}
for name, people in (("a", ["Alice Able", "Anna Apple"]), ("b", ["Bob Baker", "Bea Bond", "Ben Brown"])):
    gym = create_gym(name=f"Gym {name.upper()}")
    user = User.objects.create_user(f"owner@{name}.test", "pw-12345678", gym=gym, role=Role.objects.get(name="owner"))
    leads = [Lead.objects.create(gym=gym, first_name=person.split()[0], last_name=person.split()[1],
                                 phone=f"+1212555{ord(name):02d}{n:02d}") for n, person in enumerate(people)]
    for lead in leads[1:]:
        CallLog.objects.create(gym=gym, lead=lead, status="completed", outcome="answered", duration=60,
                               start_time=timezone.now())
    out[name] = {"gym": str(gym.pk), "token": ApiToken.objects.create(user=user, name="t")[1],
                 "email": user.email, "leads": sorted(str(lead.pk) for lead in leads)}
print(json.dumps(out, separators=(",", ":")))
"""


def call(stack, path, token, method="GET", body=None):
    request = urllib.request.Request(stack["url"] + path, method=method, headers={
        "Authorization": f"Token {token}", "Content-Type": "application/json"},
        data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            payload = response.read()
            return response.status, json.loads(payload) if payload else None
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def reads(stack):
    """reps_db_reads_total by (database, reason), from the server's /metrics."""
    with urllib.request.urlopen(stack["url"] + "/metrics", timeout=10) as response:
        text = response.read().decode()
    counts = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "reps_db_reads_total":
                counts[sample.labels["database"], sample.labels["reason"]] += sample.value
    return counts


def replica_lag(stack):
    """reps_db_replica_lag_seconds: the lag the server last measured."""
    with urllib.request.urlopen(stack["url"] + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return next(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
                if sample.name == "reps_db_replica_lag_seconds")


def answered_by(stack, path, token, **kwargs):
    """(status, body, {(database, reason): reads}) of one request."""
    before = reads(stack)
    status, body = call(stack, path, token, **kwargs)
    after = reads(stack)
    return status, body, {key: after[key] - before[key] for key in after if after[key] != before[key]}


def days(offset):
    """A range of days no other request asks for: a cached read computes it (on a miss) rather than hit."""
    start = datetime.date(2020, 1, 1) + datetime.timedelta(days=offset)
    return f"start={start}&end={datetime.date.today() + datetime.timedelta(days=1)}"


def until_replica_answers(stack, deadline_seconds=30):
    """Wait until a list is answered by the replica again (after a test stopped, paused or lagged it)."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        status, _, answered = answered_by(stack, "/api/v1/leads/", stack["a"]["token"])
        if status == 200 and answered == {("replica", "ok"): 1}:
            return
        time.sleep(0.3)
    pytest.fail(f"the replica did not answer again: {answered}")


def until_lagging(stack, token):
    """Ask for a list until the replica lags past MAX_LAG and the primary answers; until then the replica does."""
    deadline = time.monotonic() + MAX_LAG + 10
    while True:
        status, body, answered = answered_by(stack, "/api/v1/leads/?page_size=50", token)
        if answered == {("primary", "lagging"): 1}:
            return body
        assert answered == {("replica", "ok"): 1} and time.monotonic() < deadline, answered
        time.sleep(0.3)


def until_replayed(stack):
    """Wait until the replica has replayed all the primary has written so far."""
    with psycopg.connect(stack["env"]["DATABASE_PLATFORM_URL"], autocommit=True) as primary:
        lsn = primary.execute("SELECT pg_current_wal_flush_lsn()").fetchone()[0]
    deadline = time.monotonic() + 10
    while not stack["replica"].sql("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", lsn)[0][0]:
        assert time.monotonic() < deadline, "the replica does not replay"
        time.sleep(0.05)


def replica_commits(stack):
    return stack["replica"].sql("SELECT xact_commit FROM pg_stat_database WHERE datname = 'reps'")[0][0]


def test_each_heavy_read_is_answered_by_the_replica_and_shows_only_its_gym(stack):
    until_replica_answers(stack)
    commits = replica_commits(stack)
    replica_reads = 0
    for n, (me, other) in enumerate((("a", "b"), ("b", "a"))):
        token, mine, theirs = stack[me]["token"], stack[me]["leads"], stack[other]["leads"]
        # (path, what of the answer to compare, what it must be): one gym's rows only, each time.
        checks = [
            (f"/api/v1/leads/stats/?{days(n)}", lambda body: sum(body.values()), len(mine)),
            (f"/api/v1/calls/metrics/?{days(n)}", lambda body: body["total_calls"], len(mine) - 1),
            (f"/api/v1/appointments/stats/?{days(n)}", lambda body: sum(body.values()), 0),
            ("/api/v1/leads/dashboard/", lambda body: sum(body["lead_counts"].values()), len(mine)),
            ("/api/v1/leads/?page_size=50", lambda body: sorted(row["id"] for row in body["results"]), mine),
            ("/api/v1/leads/?search=Bob", lambda body: [row["first_name"] for row in body["results"]],
             ["Bob"] if me == "b" else []),
            ("/api/v1/calls/", lambda body: len(body["results"]), len(mine) - 1),
        ]
        for path, seen, expected in checks:
            until_replayed(stack)  # what the cache keeps is computed on the replica only once it has every commit
            status, body, answered = answered_by(stack, path, token)
            assert status == 200, (path, body)
            # A token's first use (B's, when the tests run in order) is written too, just before the commit.
            assert answered == {("replica", "ok"): 1}, (path, answered)
            assert seen(body) == expected, (path, body)
            assert not set(theirs) & set(json.dumps(body).split('"')), (path, body)
            replica_reads += 1

    # The workspace's dashboard: its figures through the same repositories, each a read on the replica.
    page = session_for(stack["url"], "/workspace/login/", "owner@a.test", PASSWORD)
    until_replayed(stack)  # the sign-in wrote
    before = reads(stack)
    status, html = page("/workspace/?start=2021-01-01&end=2021-12-31")
    answered = reads(stack) - before
    assert status == 200 and "Gym A" in html
    assert answered[("replica", "ok")] >= 4 and set(answered) == {("replica", "ok")}, answered
    replica_reads += answered[("replica", "ok")]

    # The replica's own count of transactions (PostgreSQL reports them within a second or so).
    deadline = time.monotonic() + 5
    while replica_commits(stack) - commits < replica_reads and time.monotonic() < deadline:
        time.sleep(0.3)
    assert replica_commits(stack) - commits >= replica_reads
    # The tokens' first uses were written on the primary, when each request committed.
    assert platform_shell(stack["env"], "from accounts.models import ApiToken\n"
                                        "print(ApiToken.objects.filter(last_used_at=None).count())") == "0"


# In a job's transaction for gym A, as the application's login: a read on the replica, a write, then the same
# read on the primary, which sees the write (read-your-writes); rolled back after.
WRITE_THEN_READ = """
import json
from django.db import transaction
from leads.querysets import lead_repository
from leads.services import create_lead
from reps.core.metrics import DB_READS
from reps.tenancy.database import gym_transaction

def counts():
    return {f"{s.labels['database']} {s.labels['reason']}": s.value
            for m in DB_READS.collect() for s in m.samples if s.name.endswith("_total")}

seen = []
with gym_transaction(GYM):
    seen.append(sum(lead_repository(GYM).conversion_stats("2020-01-01", "2100-01-01").values()))
    seen.append(counts())
    create_lead(gym=GYM, data={"first_name": "Written", "last_name": "Here", "phone": "+12125559999"})
    seen.append(sum(lead_repository(GYM).conversion_stats("2020-01-01", "2100-01-01").values()))
    seen.append(counts())
    transaction.set_rollback(True)
print(json.dumps(seen, separators=(",", ":")))
"""


def test_after_a_write_the_same_transaction_reads_on_the_primary(stack):
    until_replica_answers(stack)
    env = {**stack["env"], "REDIS_URL": ""}  # the plain repositories: each read is a query
    env.pop("PROMETHEUS_MULTIPROC_DIR")  # its counts are its own, not the server's
    out = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c",
                          WRITE_THEN_READ.replace("GYM", repr(stack["a"]["gym"]))], cwd=BASE, env=env, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    before, on_replica, after, then = json.loads(out.strip().splitlines()[-1])

    assert on_replica == {"replica ok": 1}
    assert then == {"replica ok": 1, "primary written": 1}
    assert (before, after) == (2, 3)


def test_a_replica_lagging_within_the_limit_answers_beyond_it_the_primary_does(stack):
    until_replica_answers(stack)
    replica, token = stack["replica"], stack["a"]["token"]
    status, first = call(stack, "/api/v1/leads/", token, "POST",
                         {"first_name": "Replayed", "last_name": "Lead", "phone": "+12125550177"})
    assert status == 201, first
    deadline = time.monotonic() + 10
    while not replica.sql("SELECT 1 FROM leads_lead WHERE id = %s", first["id"]):
        assert time.monotonic() < deadline, "the replica did not replay the new lead"
        time.sleep(0.1)
    replica.sql("SELECT pg_wal_replay_pause()")
    try:
        status, second = call(stack, "/api/v1/leads/", token, "POST",
                              {"first_name": "Unreplayed", "last_name": "Lead", "phone": "+12125550178"})
        assert status == 201, second

        # Within the limit: the gym that wrote reads its lead on the primary (the replica has not replayed
        # it); another gym, which wrote nothing, reads on the replica.
        status, body, answered = answered_by(stack, "/api/v1/leads/?page_size=50", token)
        listed = {row["id"] for row in body["results"]}
        assert answered == {("primary", "behind"): 1} and {first["id"], second["id"]} <= listed
        status, body, answered = answered_by(stack, "/api/v1/leads/?page_size=50", stack["b"]["token"])
        assert answered == {("replica", "ok"): 1} and len(body["results"]) == len(stack["b"]["leads"])
        # A value the cache keeps is never computed on a replica missing a commit: the primary's, with it.
        status, stats, answered = answered_by(stack, f"/api/v1/leads/stats/?{days(50)}", token)
        assert answered == {("primary", "behind"): 1} and sum(stats.values()) == len(stack["a"]["leads"]) + 2

        # Beyond it (the replica last replayed a commit more than MAX_LAG seconds ago): the primary, for every gym.
        until_lagging(stack, stack["b"]["token"])
        status, body, answered = answered_by(stack, "/api/v1/leads/?page_size=50", token)
        assert answered == {("primary", "lagging"): 1} and second["id"] in {row["id"] for row in body["results"]}
        assert replica_lag(stack) > MAX_LAG
    finally:
        replica.sql("SELECT pg_wal_replay_resume()")

    until_replica_answers(stack)
    status, body, answered = answered_by(stack, "/api/v1/leads/?page_size=50", token)
    assert answered == {("replica", "ok"): 1} and second["id"] in {row["id"] for row in body["results"]}
    assert replica_lag(stack) < MAX_LAG
    for lead in (first, second):
        assert call(stack, f"/api/v1/leads/{lead['id']}/", token, "DELETE")[0] == 204


def test_a_replica_cut_off_from_its_primary_lags_from_the_primary_s_next_write(stack):
    """It has replayed all it received and receives nothing more: measured against the primary, not itself."""
    until_replica_answers(stack)
    replica = stack["replica"]
    original = replica.sql("SHOW primary_conninfo")[0][0]
    replica.execute("ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=1 user=postgres'")
    replica.sql("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 20
    while replica.sql("SELECT count(*) FROM pg_stat_wal_receiver")[0][0]:
        assert time.monotonic() < deadline, "the replica kept streaming"
        time.sleep(0.2)
    try:
        # Written on the primary without a service (as a migration or a psql session would): nobody noted it.
        lead = stack["b"]["leads"][0]
        with psycopg.connect(stack["env"]["DATABASE_PLATFORM_URL"], autocommit=True) as primary:
            before = primary.execute("UPDATE leads_lead SET notes = 'cut off' WHERE id = %s"
                                     " RETURNING (SELECT notes FROM leads_lead WHERE id = %s)", [lead, lead]).fetchone()[0]
        until_lagging(stack, stack["b"]["token"])
        assert replica_lag(stack) > MAX_LAG
        status, detail = call(stack, f"/api/v1/leads/{lead}/", stack["b"]["token"])
        assert detail["notes"] == "cut off"
    finally:
        quoted = original.replace("'", "''")
        replica.execute(f"ALTER SYSTEM SET primary_conninfo = '{quoted}'")
        replica.sql("SELECT pg_reload_conf()")
        with psycopg.connect(stack["env"]["DATABASE_PLATFORM_URL"], autocommit=True) as primary:
            primary.execute("UPDATE leads_lead SET notes = %s WHERE id = %s", [before, lead])
    until_replayed(stack)
    until_replica_answers(stack)


def test_with_the_replica_stopped_the_primary_answers_until_it_is_back(stack):
    until_replica_answers(stack)
    token = stack["b"]["token"]
    paths = [f"/api/v1/leads/stats/?{days(100)}", f"/api/v1/calls/metrics/?{days(100)}",
             "/api/v1/leads/dashboard/", "/api/v1/leads/?page_size=50", "/api/v1/leads/?search=Ben"]
    stack["replica"].stop()
    try:
        answered_in_all = Counter()
        for path in paths:
            started = time.monotonic()
            status, body, answered = answered_by(stack, path, token)
            assert status == 200, (path, body)
            assert time.monotonic() - started < 5, path  # bounded by REPLICA_CONNECT_TIMEOUT
            assert set(answered) <= {("primary", "failed"), ("primary", "down")}, (path, answered)
            answered_in_all.update(answered)
        assert answered_in_all[("primary", "failed")] >= 1
        assert [row["first_name"] for row in body["results"]] == ["Ben"]
    finally:
        stack["replica"].start()

    until_replica_answers(stack)
    # (What the primary computed meanwhile is cached: other ranges are computed again, on the replica.)
    for path in [f"/api/v1/leads/stats/?{days(101)}", f"/api/v1/calls/metrics/?{days(101)}", *paths[3:]]:
        until_replayed(stack)
        status, body, answered = answered_by(stack, path, token)
        assert status == 200 and answered == {("replica", "ok"): 1}, (path, answered)


def test_the_replica_script_makes_a_replica_once_letting_replication_in_first(stack):
    """scripts/replica.sh against a primary whose pg_hba.conf has no replication line: it adds one, copies the
    primary, starts the replica; run again, it finds it running; REPLICA_REMOVE=1 takes it away with the line."""
    primary = stack["primary"]
    hba = primary.data / "pg_hba.conf"
    original = hba.read_text()
    without_replication = "".join(line for line in original.splitlines(True) if "replication" not in line)
    hba.write_text(without_replication)
    primary.run("pg_ctl", "-D", primary.data, "reload")
    port, target = free_port(), primary.root / "script-replica"
    env = {**os.environ, "DATABASE_URL": stack["env"]["DATABASE_URL"], "REPLICA_PORT": str(port),
           "REPLICA_DIR": str(target)}
    script = [str(BASE / "scripts" / "replica.sh")]

    def run(**extra):
        done = subprocess.run(script, env={**env, **extra}, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    try:
        first = run()
        assert f"Added 'host replication postgres 127.0.0.1/32 trust' to {hba}" in first
        assert f"answers at 127.0.0.1:{port}" in first and f"127.0.0.1:{port}/reps" in first
        with psycopg.connect(f"postgres://reps_app@127.0.0.1:{port}/reps") as replica:
            assert replica.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        again = run()
        assert "Copying" not in again and "Starting" not in again and f"answers at 127.0.0.1:{port}" in again
    finally:
        removed = run(REPLICA_REMOVE="1")
        after = hba.read_text()
        hba.write_text(original)  # the module's own replica may have to connect again
        primary.run("pg_ctl", "-D", primary.data, "reload")
    assert "Removed" in removed and not target.exists()
    assert after.rstrip() == without_replication.rstrip()  # the line it added, and only it, is gone
    with psycopg.connect(stack["env"]["DATABASE_PLATFORM_URL"]) as connection:  # no slot keeps WAL for it
        assert connection.execute("SELECT count(*) FROM pg_replication_slots").fetchone()[0] == 0


# --- In process, without a replica (the test settings have none) ------------------------------------------


def test_without_a_replica_a_heavy_read_stays_on_the_primary_and_asks_nothing(gym, django_assert_num_queries):
    from reps.tenancy.database import gym_transaction
    from reps.tenancy.replica import reads_alias, replica_reads

    with gym_transaction(gym), django_assert_num_queries(0), replica_reads(fresh=True) as alias:
        assert (alias, reads_alias()) == ("default", "default")


def test_rows_read_on_the_replica_are_read_further_and_written_on_the_primary():
    from leads.models import Lead
    from reps.tenancy.replica import REPLICA, ReplicaRouter, _Reads, _reads, primary_reads

    router, lead = ReplicaRouter(), Lead()
    lead._state.db = REPLICA
    assert router.db_for_write(Lead, instance=lead) == "default"
    assert router.db_for_read(Lead, instance=lead) == "default"  # outside a block the replica acts for no gym
    assert router.db_for_read(Lead) is None and router.db_for_write(Lead) is None  # the other routers decide
    token = _reads.set(_Reads(REPLICA, False))
    try:
        assert router.db_for_read(Lead) == REPLICA
        with primary_reads():
            assert router.db_for_read(Lead) == "default"
        assert router.db_for_read(Lead) == REPLICA
        assert router.db_for_write(Lead) is None  # the primary (the other routers decide which login)
        assert router.db_for_read(Lead) == "default"  # after a write, the block reads on the primary
    finally:
        _reads.reset(token)
    assert router.allow_migrate(REPLICA, "leads") is False and router.allow_migrate("default", "leads") is None


def test_a_tokens_last_use_is_written_after_the_reads_just_before_the_commit(gym):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from accounts.models import ApiToken
    from accounts.tests.factories import UserFactory

    user = UserFactory(gym=gym)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=user, name='new')[1]}")

    assert client.get("/api/v1/leads/stats/?start=bogus").status_code == 400
    assert ApiToken.objects.get().last_used_at is None  # a request that fails writes nothing, as before
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/leads/stats/").status_code == 200

    statements = [query["sql"] for query in queries.captured_queries]
    update = next(n for n, sql in enumerate(statements) if sql.startswith('UPDATE "accounts_apitoken"'))
    read = next(n for n, sql in enumerate(statements) if '"leads_lead"' in sql)
    assert read < update and not any(sql.startswith(("UPDATE", "INSERT")) for sql in statements[update + 1:])
    assert ApiToken.objects.get().last_used_at is not None


def test_outside_a_request_a_held_write_is_done_at_once():
    from reps.tenancy.database import write_before_commit

    done = []
    write_before_commit(lambda: done.append(1))
    assert done == [1]
