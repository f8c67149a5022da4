"""`make bench-servers`: does throughput grow with app servers? One and two gunicorn instances, direct or through
PgBouncer, under wrk, on the lead list and on the stats of the largest generated gym (issue 19).

Each instance is one Python process (WEB_CONCURRENCY=1, WEB_THREADS=4): on a machine of few cores, more
processes per instance would already use every core and hide what a second instance adds. wrk (C, one event
loop per thread) makes the load, so the load generator is not capped by this process's GIL: each wrk thread
talks to one instance, the threads dealt to the instances in turn, with a fixed number of connections in all.
With DATABASE_REPLICA_URL set, the servers read on the replica, and during each load 50 updates a second are
written on the primary while the replica's lag behind it is sampled every half second.

Run `manage.py generate_data` first (`make bench` does). Prints a table and writes JSON (bench/servers.json).
"""

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from accounts.models import ApiToken, User
from calls.models import CallLog
from gyms.models import Gym
from leads.models import Lead
from reps.core.management.commands.bench import answers_livez, free_port
from reps.core.management.commands.generate_data import NAMESPACE

REQUESTS = {"lead list": "/api/v1/leads/?pagination=cursor", "stats": "/api/v1/leads/stats/"}
CONFIGURATIONS = [(1, False), (2, False), (1, True), (2, True)]  # (app servers, through PgBouncer)
# The replica's replay lag in seconds, against the primary's position (%s, read just before): 0 when it has
# replayed that far, else how long ago the last transaction it replayed committed; NULL when it replays nothing.
LAG_SQL = ("SELECT CASE WHEN pg_last_wal_replay_lsn() - '0/0' >= %s THEN 0"
           " ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END")

# Each wrk thread gets one instance's address (wrk's own scripts/addr.lua way), in turn; done() prints the
# figures as one JSON line, with p95 (wrk's --latency prints 50/75/90/99 only) and each instance's responses.
WRK_SCRIPT = """
local ports = {%(ports)s}
local threads = {}
function setup(thread)
  local port = ports[#threads %% #ports + 1]
  thread.addr = wrk.lookup("127.0.0.1", tostring(port))[1]
  thread:set("port", port)
  table.insert(threads, thread)
end
function init(args) responses = 0 end
function response(status, headers, body) responses = responses + 1 end
function done(summary, latency, requests)
  local per = {}
  for _, thread in ipairs(threads) do
    local port = tostring(thread:get("port"))
    per[port] = (per[port] or 0) + thread:get("responses")
  end
  local parts = {}
  for port, count in pairs(per) do table.insert(parts, string.format('"%%s": %%d', port, count)) end
  local e = summary.errors
  io.write(string.format('WRK {"requests": %%d, "seconds": %%f, "median_ms": %%f, "p95_ms": %%f, "max_ms": %%f,'
    .. ' "errors": {"connect": %%d, "read": %%d, "write": %%d, "timeout": %%d, "status": %%d},'
    .. ' "per_instance": {%%s}}\\n', summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(95) / 1e3, latency.max / 1e3, e.connect, e.read, e.write, e.timeout, e.status,
    table.concat(parts, ", ")))
end
"""


def wrk_binary() -> str:
    """wrk, installed from Debian's package when missing and this runs as root (as scripts/chromium.sh does)."""
    if not shutil.which("wrk") and os.geteuid() == 0 and shutil.which("apt-get"):
        install = ["apt-get", "install", "-y", "-q", "wrk"]
        if subprocess.run(install, capture_output=True).returncode:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True)
            subprocess.run(install, capture_output=True)
    if not shutil.which("wrk"):
        raise CommandError("The load test needs wrk: apt-get install wrk")
    return shutil.which("wrk") or "wrk"


def cpu_times() -> tuple[int, int]:
    """(busy, all) jiffies of the whole machine since boot (Linux): the servers, PostgreSQL, wrk and anyone else."""
    try:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    return sum(fields) - idle, sum(fields)


def process_cpu(pids: list[int]) -> float:
    """CPU seconds used so far by these processes and their children (the gunicorn masters and workers; Linux)."""
    seconds = 0.0
    for pid in pids:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            for one in [pid, *map(int, children)]:
                fields = Path(f"/proc/{one}/stat").read_text().rpartition(")")[2].split()
                seconds += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        except OSError:
            pass
    return seconds


def postgres_cpu() -> float:
    """CPU seconds used so far by every PostgreSQL server process on this machine (the primary's and a local
    replica's backends, Linux): what the database spends on the requests, beside what the app servers spend."""
    seconds = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, _, rest = stat.read_text().partition(") ")
            if name.endswith("(postgres"):
                fields = rest.split()
                # utime + stime, and cutime + cstime: what its children that ended used (the postmaster's
                # backends that closed during the load)
                seconds += sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return seconds


def database_url(db: dict[str, Any], host: str | None = None, port: int | None = None) -> str:
    return (f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{host or db['HOST'] or '127.0.0.1'}:"
            f"{port or db['PORT'] or 5432}/{db['NAME']}")


class ReplicaLag:
    """During a load, writes on the primary (WRITES_PER_SECOND updates of the gym's leads, as staff and jobs would:
    a read-only load gives the replica nothing to replay) and samples the replica's lag every half second."""

    WRITES_PER_SECOND = 50

    def __init__(self, replica_url: str, primary_url: str, gym_id: Any) -> None:
        self.replica_url, self.primary_url, self.gym_id, self.unknown, self.writes = replica_url, primary_url, gym_id, 0, 0
        self.samples: list[float] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.sample, daemon=True), threading.Thread(target=self.write, daemon=True)]

    def sample(self) -> None:
        with psycopg.connect(self.replica_url, autocommit=True, connect_timeout=5) as replica, \
                psycopg.connect(self.primary_url, autocommit=True, connect_timeout=5) as primary:
            while not self.stop.is_set():
                position = primary.execute("SELECT pg_current_wal_lsn() - '0/0'").fetchone()[0]  # type: ignore[index]
                value = replica.execute(LAG_SQL, [position]).fetchone()[0]  # type: ignore[index]
                if value is None:
                    self.unknown += 1
                else:
                    self.samples.append(float(value))
                self.stop.wait(0.5)

    def write(self) -> None:
        with psycopg.connect(self.primary_url, autocommit=True, connect_timeout=5) as primary:
            ids = [row[0] for row in primary.execute("SELECT id FROM leads_lead WHERE gym_id = %s LIMIT 1000",
                                                     [self.gym_id]).fetchall()]
            while ids and not self.stop.is_set():
                primary.execute("UPDATE leads_lead SET updated_at = now() WHERE id = %s", [ids[self.writes % len(ids)]])
                self.writes += 1
                self.stop.wait(1 / self.WRITES_PER_SECOND)

    def __enter__(self) -> "ReplicaLag":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def summary(self) -> dict[str, Any]:
        return {"samples": len(self.samples), "not_replaying": self.unknown, "writes": self.writes,
                "max_s": max(self.samples) if self.samples else None,
                "median_s": statistics.median(self.samples) if self.samples else None}


class Command(BaseCommand):
    help = "Requests/s and latency of the lead list and the stats with 1 and 2 app servers, direct and via PgBouncer."

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=int, default=20, help="Load length per configuration and request.")
        parser.add_argument("--connections", type=int, default=8, help="wrk connections in all.")
        parser.add_argument("--rounds", type=int, default=1,
                            help="Run every configuration this many times; the table shows the medians.")
        parser.add_argument("--seed", type=int, default=42, help="The generate_data seed.")
        parser.add_argument("--output", default="bench/servers.json")

    def handle(self, *args, seconds, connections, rounds, seed, output, **options):
        gym = Gym.objects.filter(pk=uuid.uuid5(NAMESPACE, f"{seed}-0")).first()
        user = User.objects.for_gym(gym).first() if gym else None
        if gym is None or user is None:
            raise CommandError("No generated data in this database: run `make bench` (it generates it) or "
                               "`manage.py generate_data`.")
        self.wrk, self.gym = wrk_binary(), gym
        self.seconds, self.connections = seconds, connections
        self.replica_url = getattr(settings, "DATABASE_REPLICA_URL", "") or os.environ.get("DATABASE_REPLICA_URL", "")
        self.tmp = Path(tempfile.mkdtemp(prefix="reps-bench-servers-"))
        self.tmp.chmod(0o711)  # PgBouncer, run as postgres when this runs as root, must reach its directory in it
        instance, self.token = ApiToken.objects.create(user=user, name="bench-servers")
        self.stdout.write("Each app server is one gunicorn process of 4 threads (WEB_CONCURRENCY=1, WEB_THREADS=4): "
                          f"on this {os.cpu_count()}-core machine more processes per server would hide the server "
                          f"count. wrk: {connections} connections in all, {seconds} s per run, {rounds} round(s).")
        runs = []
        try:
            for round_ in range(rounds):
                for servers, pgbouncer in CONFIGURATIONS:
                    for result in self.configuration(servers, pgbouncer):
                        runs.append({"round": round_ + 1, **result})
                        self.stdout.write(f"  round {round_ + 1}: {self.label(result)}: {result['rps']:.0f} "
                                          f"requests/s, p95 {result['p95_ms']:.1f} ms, machine CPU {result['cpu_busy'] or 0:.0%} busy, "
                                          f"{result['app_cpu_ms']:.1f} ms app CPU a request")
        finally:
            instance.delete()
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.report(gym, runs, rounds, output)

    @staticmethod
    def label(row: dict[str, Any]) -> str:
        return f"{row['request']}, {row['servers']} server(s), {'PgBouncer' if row['pgbouncer'] else 'direct'}"

    def configuration(self, servers: int, pgbouncer: bool) -> list[dict[str, Any]]:
        """Start the servers (and PgBouncer), load each request type in turn, stop them all."""
        db, platform = connection.settings_dict, settings.DATABASES.get("platform", connection.settings_dict)
        env = {**os.environ, "REPS_ENV": "production", "SECRET_KEY": settings.SECRET_KEY,  # the key gym proofs use
               "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0", "WEB_CONCURRENCY": "1", "WEB_THREADS": "4",
               # No worker recycling: with one process per server, the recycle (every ~5,000 requests) stalls the
               # whole server while the new worker boots, and lands in one configuration's p95 and not another's.
               "WEB_MAX_REQUESTS": "0",
               "LOG_LEVEL": "WARNING", "DATABASE_URL": database_url(db), "DATABASE_PLATFORM_URL": database_url(platform),
               "DB_POOL": "1"}
        bouncer = None
        if pgbouncer:
            # One PgBouncer in front of the bench database for every server, with 8 server connections: as many
            # as two servers' threads, so that it pools, not queues, and the servers open no pools of their own.
            port = free_port()
            bouncer = {**os.environ, "PGBOUNCER_PORT": str(port), "PGBOUNCER_DIR": str(self.tmp / f"pgbouncer-{port}"),
                       "PGBOUNCER_POOL_SIZE": "8", "DATABASE_URL": database_url(db)}
            started = subprocess.run(["scripts/pgbouncer.sh"], cwd=settings.BASE_DIR, env=bouncer,
                                     capture_output=True, text=True)
            if started.returncode:
                raise CommandError(f"PgBouncer did not start: {started.stderr or started.stdout}")
            env.update(DATABASE_URL=database_url(db, "127.0.0.1", port),
                       DATABASE_PLATFORM_URL=database_url(platform, "127.0.0.1", port), DB_POOL="0")
        instances: list[tuple[int, subprocess.Popen]] = []
        try:
            for _ in range(servers):
                port = free_port()
                log = open(self.tmp / f"gunicorn-{port}.log", "w")  # noqa: SIM115  # closed with the process
                instances.append((port, subprocess.Popen(
                    [str(Path(sys.executable).parent / "gunicorn"), "--config", "gunicorn.conf.py",
                     "--access-logfile", "/dev/null"], cwd=settings.BASE_DIR, stdout=log, stderr=log,
                    env={**env, "BIND": f"127.0.0.1:{port}",
                         "PROMETHEUS_MULTIPROC_DIR": str(self.tmp / f"metrics-{port}")})))
                log.close()
            ports = [port for port, _ in instances]
            for port in ports:
                self.warm_up(port)
            results = []
            for request, path in REQUESTS.items():
                with (ReplicaLag(self.replica_url, database_url(db), self.gym.pk) if self.replica_url
                      else _NoReplica()) as lag:
                    figures = self.load(ports, path, [process.pid for _, process in instances])
                results.append({"request": request, "path": path, "servers": servers, "pgbouncer": pgbouncer,
                                **figures, "replica_lag": lag.summary()})
            return results
        finally:
            for _, process in instances:
                process.send_signal(signal.SIGTERM)
            for _, process in instances:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
            if bouncer:
                subprocess.run(["scripts/pgbouncer.sh"], cwd=settings.BASE_DIR, env={**bouncer, "PGBOUNCER_STOP": "1"},
                               capture_output=True)

    def warm_up(self, port: int) -> None:
        """Wait for the server, then load every request a few times (imports, pools, the stats' cache)."""
        if not answers_livez(port, tries=150):
            raise CommandError(f"gunicorn on port {port} did not start: {(self.tmp / f'gunicorn-{port}.log').read_text()}")
        for path in REQUESTS.values():
            for _ in range(5):
                request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                                 headers={"Authorization": f"Token {self.token}"})
                try:
                    urllib.request.urlopen(request, timeout=30).read()
                except urllib.error.HTTPError as error:
                    raise CommandError(f"{path} answered {error.code}: {error.read()[:300]!r}") from error

    def load(self, ports: list[int], path: str, pids: list[int]) -> dict[str, Any]:
        script = self.tmp / "spread.lua"
        script.write_text(WRK_SCRIPT % {"ports": ", ".join(map(str, ports))})
        threads = max(2, len(ports))  # the same wrk for one and two servers: two threads, one per server at two
        busy, total, app, database = *cpu_times(), process_cpu(pids), postgres_cpu()
        run = subprocess.run(
            [self.wrk, f"-t{threads}", f"-c{self.connections}", f"-d{self.seconds}s", "--timeout", "10s",
             "-s", str(script), "-H", f"Authorization: Token {self.token}", f"http://127.0.0.1:{ports[0]}{path}"],
            capture_output=True, text=True, timeout=self.seconds + 60)
        line = next((line for line in run.stdout.splitlines() if line.startswith("WRK ")), None)
        if line is None:
            raise CommandError(f"wrk failed: {run.stderr or run.stdout}")
        figures = json.loads(line[4:])
        # How busy the machine was: near 100%, a second server can only add what the cores have left.
        busy, total = (now - before for now, before in zip(cpu_times(), (busy, total), strict=True))
        figures["cpu_busy"] = busy / total if total else None
        # What one request costs the app servers in CPU: 1000 / this is what one process could serve with a core
        # of its own, whatever else runs on the machine.
        figures["app_cpu_ms"] = (process_cpu(pids) - app) * 1000 / max(1, figures["requests"])
        # And the database's (every PostgreSQL process here, a local replica's too).
        figures["db_cpu_ms"] = (postgres_cpu() - database) * 1000 / max(1, figures["requests"])
        figures["rps"] = figures["requests"] / figures["seconds"]
        figures["per_instance"] = [figures["per_instance"].get(str(port), 0) for port in ports]
        return figures

    def report(self, gym: Gym, runs: list[dict[str, Any]], rounds: int, output: str) -> None:
        leads, calls = Lead.objects.for_gym(gym).count(), CallLog.objects.for_gym(gym).count()
        all_leads = Lead.objects.unscoped().count()
        self.stdout.write(f"\nThe largest gym: {leads:,} leads, {calls:,} calls (all gyms: {all_leads:,} leads). "
                          f"{self.connections} connections, {self.seconds} s a run; medians of {rounds} round(s). x1: requests/s "
                          "beside one server's; CPU: the whole machine's busy share during the load; app CPU: the app "
                          "servers' CPU ms per request; DB CPU: PostgreSQL's; the stats "
                          "are the cached path (Redis) once warm.")
        self.stdout.write(f"{'request':<10}{'servers':>8}  {'database':<10}{'req/s':>8}{'x1':>6}{'median':>9}{'p95':>9}"
                          f"{'errors':>8}{'CPU':>6}{'app CPU':>9}{'DB CPU':>8}  {'per server':<14}"
                          f"{'replica lag max/median s':<26}")
        table: list[dict[str, Any]] = []
        for request in REQUESTS:
            for servers, pgbouncer in CONFIGURATIONS:
                mine = [run for run in runs if (run["request"], run["servers"], run["pgbouncer"])
                        == (request, servers, pgbouncer)]
                lags = [run["replica_lag"] for run in mine if run["replica_lag"].get("max_s") is not None]
                row = {"request": request, "servers": servers, "pgbouncer": pgbouncer,
                       "rps": statistics.median(run["rps"] for run in mine),
                       "median_ms": statistics.median(run["median_ms"] for run in mine),
                       "p95_ms": statistics.median(run["p95_ms"] for run in mine),
                       "errors": sum(sum(run["errors"].values()) for run in mine),
                       "cpu_busy": statistics.median(run["cpu_busy"] or 0 for run in mine),
                       "app_cpu_ms": statistics.median(run["app_cpu_ms"] for run in mine),
                       "db_cpu_ms": statistics.median(run.get("db_cpu_ms", 0) for run in mine),
                       "per_instance": [sum(counts) for counts in zip(*(run["per_instance"] for run in mine),
                                                                      strict=True)],
                       "replica_lag_max_s": max((lag["max_s"] for lag in lags), default=None),
                       "replica_lag_median_s": statistics.median(lag["median_s"] for lag in lags) if lags else None}
                one = next((r for r in table if (r["request"], r["servers"], r["pgbouncer"]) == (request, 1, pgbouncer)),
                           None)
                row["vs_one_server"] = row["rps"] / one["rps"] if one and one["rps"] else 1.0
                table.append(row)
                lag = (f"{row['replica_lag_max_s']:.2f} / {row['replica_lag_median_s']:.2f}" if lags
                       else "no replica configured" if not self.replica_url else "not replaying")
                share = "/".join(f"{count / max(1, sum(row['per_instance'])):.0%}" for count in row["per_instance"])
                self.stdout.write(
                    f"{request:<10}{servers:>8}  {'PgBouncer' if pgbouncer else 'direct':<10}{row['rps']:>8.0f}"
                    f"{row['vs_one_server']:>5.2f}x{row['median_ms']:>9.1f}{row['p95_ms']:>9.1f}{row['errors']:>8}{row['cpu_busy']:>6.0%}"
                    f"{row['app_cpu_ms']:>9.1f}{row['db_cpu_ms']:>8.1f}  "
                    f"{share:<14}{lag:<26}")
        path = Path(settings.BASE_DIR) / output
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "largest_gym": {"leads": leads, "calls": calls}, "all_gyms": {"leads": all_leads},
            "seconds": self.seconds, "connections": self.connections, "rounds": rounds, "cpus": os.cpu_count(),
            "server": {"processes": 1, "threads": 4}, "pgbouncer_pool_size": 8,
            "replica": bool(self.replica_url), "results": table, "runs": runs}, indent=2))
        self.stdout.write(f"\nWritten to {path}")


class _NoReplica:
    def __enter__(self) -> "_NoReplica":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def summary(self) -> dict[str, Any]:
        return {"replica": None}
