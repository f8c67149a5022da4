"""`make bench`: timings against a benchmark database, medians with the naive figure beside them.

Runs in its own database and Redis database (the Makefile points DATABASE_URL
and REDIS_URL there) and builds its data once: one gym with --leads leads,
five calls and half an appointment per lead. Prints a table and writes JSON.
"""

import datetime
import json
import random
import statistics
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.cache import cache, caches
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role, User
from appointments.models import Appointment
from calls.models import CallLog, CallOutcome, CallStatus
from gyms.models import Gym
from gyms.services import create_gym
from leads.models import Lead, LeadQualification, LeadStatus
from reps.core import repositories
from reps.core.cache import invalidate
from reps.core.scoping import gym_scope

BENCH_GYM = uuid.UUID("00000000-0000-4000-8000-00000000be0c")


def timed(function, runs):
    """(median ms, p95 ms, SQL queries of one run) of function() over `runs` runs."""
    samples = []
    with CaptureQueriesContext(connection) as queries:
        function()
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1], len(queries)


class Command(BaseCommand):
    help = "Benchmark the cached reads and cache invalidation (more scenarios join with issue 8)."

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=20_000)
        parser.add_argument("--runs", type=int, default=50)
        parser.add_argument("--output", default="bench/results.json")

    def handle(self, *args, leads, runs, output, **options):
        if not type(caches["default"]).__module__.startswith("django_redis"):
            raise CommandError("The benchmark needs Redis: set REDIS_URL.")
        gym = self.bench_gym(leads)
        rows = []
        with gym_scope(gym):
            rows += self.cached_reads(gym, runs)
            rows += self.invalidation(gym, runs)
        self.report(rows, gym, output)

    # --- data -------------------------------------------------------------------------------

    def bench_gym(self, lead_count):
        gym = Gym.objects.filter(pk=BENCH_GYM).first()
        if gym is not None and Lead.objects.for_gym(gym).count() == lead_count:
            return gym
        if gym is not None:
            gym.delete()
        self.stdout.write(f"Building the benchmark gym: {lead_count} leads, {5 * lead_count} calls ...")
        rng = random.Random(8)
        now = timezone.now()
        with transaction.atomic(), gym_scope(BENCH_GYM):
            gym = create_gym(id=BENCH_GYM, name="Benchmark gym", timezone="America/Chicago")
            staff = User.objects.create_user("bench-staff@reps.test", None, gym=gym,
                                             role=Role.objects.get(name="sales"))
            leads = Lead.objects.bulk_create(
                (Lead(gym=gym, first_name=f"First{n}", last_name=f"Last{n}", email=f"lead{n}@bench.test",
                      phone=f"+1312{n:07d}",
                      status=rng.choice(LeadStatus.values), source=rng.choice(["web", "referral", "ads"]),
                      created_at=now - datetime.timedelta(minutes=rng.randint(0, 400 * 24 * 60)))
                 for n in range(lead_count)), batch_size=5000)
            LeadQualification.objects.bulk_create(
                (LeadQualification(gym=gym, lead=lead, score=rng.randint(0, 100)) for lead in leads[::2]),
                batch_size=5000)
            CallLog.objects.bulk_create(
                (CallLog(gym=gym, lead=lead, status=CallStatus.COMPLETED, outcome=rng.choice(CallOutcome.values),
                         duration=rng.randint(20, 900), is_ai_call=True,
                         start_time=now - datetime.timedelta(minutes=rng.randint(0, 120 * 24 * 60)))
                 for lead in leads for _ in range(5)), batch_size=10000)
            Appointment.objects.bulk_create(
                (Appointment(gym=gym, lead=lead, staff=staff if n % 40 == 0 else None, title="Tour",
                             scheduled_time=now + datetime.timedelta(hours=n),
                             end_time=now + datetime.timedelta(hours=n, minutes=45))
                 for n, lead in enumerate(leads[::2])), batch_size=5000)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        return gym

    # --- scenarios --------------------------------------------------------------------------

    def cached_reads(self, gym, runs):
        today = timezone.now().date()
        month = (today - datetime.timedelta(days=29), today)
        reads = {
            "prioritized_leads": lambda repo: repo["leads"].prioritized(20),
            "lead_stats": lambda repo: repo["leads"].conversion_stats(*month),
            "lead_dashboard": lambda repo: repo["leads"].dashboard(),
            "call_metrics": lambda repo: repo["calls"].metrics(*month),
            "appointment_stats": lambda repo: repo["appointments"].stats(*month),
        }
        plain = {"leads": repositories.LeadRepository(gym), "calls": repositories.CallRepository(gym),
                 "appointments": repositories.AppointmentRepository(gym)}
        cached = {"leads": repositories.CachedLeadRepository(gym), "calls": repositories.CachedCallRepository(gym),
                  "appointments": repositories.CachedAppointmentRepository(gym)}
        rows = []
        for namespace, read in reads.items():
            uncached = timed(lambda: read(plain), runs)
            read(cached)  # fill the cache
            hit = timed(lambda: read(cached), runs * 4)
            rows.append((f"{namespace}: cached read", hit, f"{namespace}: uncached read", uncached))
        return rows

    def invalidation(self, gym, runs):
        from django_redis import get_redis_connection

        redis = get_redis_connection("default")
        rows = []
        for keys in (10, 100_000):
            cache.clear()
            self.fill(redis, gym, keys)
            ours = timed(lambda: invalidate(gym.pk, repositories.EVERYTHING), runs)

            def delete_pattern():  # the seed's way: walk the keyspace for the gym's keys
                cache.delete_pattern(f"repo:*:{gym.pk}:*")

            naive = timed(delete_pattern, 1) if keys <= 10 else None
            if naive is None:
                started = time.perf_counter()
                delete_pattern()
                elapsed = (time.perf_counter() - started) * 1000
                naive = (elapsed, elapsed, 0)
            rows.append((f"invalidate a gym, {keys:,} keys cached", ours, "delete_pattern (SCAN + DEL)", naive))
        cache.clear()
        return rows

    @staticmethod
    def fill(redis, gym, keys):
        pipeline = redis.pipeline(transaction=False)
        for n in range(keys):
            pipeline.set(cache.make_key(f"repo:lead_stats:{gym.pk}:0.0:{n:016x}"), "{}", ex=600)
            if n % 10_000 == 9_999:
                pipeline.execute()
        pipeline.execute()

    # --- report -----------------------------------------------------------------------------

    def report(self, rows, gym, output):
        leads = Lead.objects.for_gym(gym).count()
        calls = CallLog.objects.for_gym(gym).count()
        header = f"{'scenario':<42}{'median':>10}{'p95':>10}{'SQL':>5}   {'naive':<30}{'median':>10}{'ratio':>8}"
        self.stdout.write(f"\nOne gym: {leads:,} leads, {calls:,} calls; medians in ms.\n{header}")
        results = []
        for name, (median, p95, sql), naive_name, (naive_median, naive_p95, naive_sql) in rows:
            ratio = naive_median / median if median else float("inf")
            self.stdout.write(f"{name:<42}{median:>10.3f}{p95:>10.3f}{sql:>5}   {naive_name:<30}"
                              f"{naive_median:>10.3f}{ratio:>7.0f}x")
            results.append({"scenario": name, "median_ms": round(median, 4), "p95_ms": round(p95, 4), "sql": sql,
                            "naive": naive_name, "naive_median_ms": round(naive_median, 4),
                            "naive_sql": naive_sql, "ratio": round(ratio, 1)})
        path = Path(settings.BASE_DIR) / output
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"leads": leads, "calls": calls, "results": results}, indent=2))
        self.stdout.write(f"\nWritten to {path}")
