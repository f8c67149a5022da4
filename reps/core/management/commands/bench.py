"""`make bench`: each scenario in the largest generated gym, beside the naive way the seed warns against.

Run `manage.py generate_data` first (`make bench` does, once). Every figure is
the median (and p95) of --runs runs in this one process and run, with the SQL
statements one run takes; the ratio is naive median / ours. Prints a table and
writes JSON (bench/results.json).
"""

import datetime
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Q
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_redis import get_redis_connection
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from accounts.models import ApiToken, Role, User
from appointments.models import Appointment
from appointments.services import update_appointment_status
from calls.choices import CallOutcome
from calls.models import CallLog
from calls.querysets import CallRepository
from gyms.models import Gym
from leads.analytics import lead_dashboard
from leads.choices import LeadStatus
from leads.models import Lead
from leads.querysets import CachedLeadRepository, LeadRepository
from leads.services import change_lead_status, create_lead, update_lead
from reps.core.cache import everything, invalidate, shared
from reps.core.management.commands.generate_data import NAMESPACE
from reps.core.pagination import encode_cursor
from reps.tenancy.admin import TenantAdmin
from reps.tenancy.database import gym_scope

# The budgets of issues 8 and 16, in ms (medians in the largest gym). Issue 16 set the common path's beside
# the seed's design built literally on the same data: ../shared/bench, scripts/same-data-harness.patch.
BUDGETS = {"search": 20, "prioritized": 10, "call metrics": 30, "upcoming calls": 5, "dashboard": 40,
           "conflict check": 2, "cached": 2, "invalidate": 1, "API page": 30, "API list": 7, "API filtered": 20,
           "API detail": 6, "API deep page": 30, "API cursor": 10, "write": 2, "cached hit": 0.3, "cached API": 3,
           "workspace page": 300, "workspace search": 500, "admin page": 300, "admin search": 500}
GROUPS = ("api_pages", "common_path", "searches", "search_isolation", "aggregates", "policy_cost", "appointments_and_details",
          "invalidation", "workspace_pages", "platform_admin")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers_livez(port, tries=100):
    """Whether a server on this port answered /livez within `tries` fifths of a second (it is starting)."""
    for _ in range(tries):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=1)
            return True
        except OSError:
            time.sleep(0.2)
    return False


def statements():
    # The query timer's counter: it also counts statements of API requests (which reset Django's query log).
    return REGISTRY.get_sample_value("reps_db_queries_total") or 0


def timed(function, runs):
    """(median ms, p95 ms, SQL statements of one run)."""
    before = statements()
    function()
    queries = int(statements() - before)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)], queries


class Command(BaseCommand):
    help = "Benchmark the repositories and the API in the largest generated gym, beside the naive versions."

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=30)
        parser.add_argument("--seed", type=int, default=42, help="The generate_data seed.")
        parser.add_argument("--http-seconds", type=int, default=30, help="Load test length (0: skip it).")
        parser.add_argument("--output", default="bench/results.json")
        parser.add_argument("--only", nargs="+", choices=GROUPS, default=GROUPS, metavar="GROUP",
                            help=f"Run only these groups of scenarios: {', '.join(GROUPS)}.")

    def handle(self, *args, runs, seed, http_seconds, output, only, **options):
        if not shared():
            raise CommandError("The benchmark needs Redis: set REDIS_URL.")
        gym = Gym.objects.filter(pk=uuid.uuid5(NAMESPACE, f"{seed}-0")).first()
        if gym is None:
            raise CommandError("No generated data: run manage.py generate_data first.")
        self.gym, self.runs, self.rows = gym, runs, []
        self.user = User.objects.for_gym(gym).first()
        self.client = APIClient()
        self.token = ApiToken.objects.create(user=self.user, name="bench")[1]
        self.client.credentials(HTTP_AUTHORIZATION=f"Token {self.token}")
        with gym_scope(gym):
            for group in GROUPS:
                if group in only:
                    getattr(self, group)()
        if http_seconds and set(only) == set(GROUPS):
            self.http_throughput(http_seconds)
        self.report(output)

    def compare(self, name, ours, naive_name, naive, budget=None, runs=None, naive_as_platform=False):
        runs = runs or self.runs
        mine = timed(self.as_a_request(ours), runs)
        if naive is not None:
            naive = self.as_the_platform(naive) if naive_as_platform else self.as_a_request(naive)
        theirs = timed(naive, max(3, runs // 3)) if naive is not None else None
        self.rows.append({"scenario": name, "median_ms": mine[0], "p95_ms": mine[1], "sql": mine[2],
                          "naive": naive_name, "naive_median_ms": theirs[0] if theirs else None,
                          "naive_sql": theirs[2] if theirs else None, "budget_ms": budget})

    def as_a_request(self, function):
        """Each run in a transaction of its own that acts as the application role for the gym, as a request does.

        The benchmark logs in with the platform login, which row-level
        security does not apply to; the application's queries run under it.
        API calls open their own, as in production.
        """
        if getattr(function, "is_api_request", False):
            return function

        def run():
            with transaction.atomic(), gym_scope(self.gym):
                function()
        return run

    @staticmethod
    def as_the_platform(function):
        """Each run in a transaction of the platform login, which no row-level security policy applies to."""
        def run():
            with transaction.atomic():
                function()
        return run

    # --- scenarios ---------------------------------------------------------------------------------

    def api_get(self, url):
        def get():
            response = self.client.get(url)
            assert response.status_code == 200, (url, response.status_code, response.content[:200])
        get.is_api_request = True  # type: ignore[attr-defined]
        return get

    def api_pages(self):
        leads = Lead.objects.for_gym(self.gym).order_by("-created_at", "-id")
        page = min(1000, leads.count() // 25)  # page 1,000, or the last full page of a smaller gym
        # The cursor a client holds after paging this far: the last row of the page before.
        cursor = encode_cursor(["-created_at", "-id"], list(leads.values_list("created_at", "id")[(page - 1) * 25 - 1]))
        self.compare("lead list page 1 (API, cursor)", self.api_get("/api/v1/leads/?pagination=cursor"),
                     "page 1 with COUNT (API, numbered)", self.api_get("/api/v1/leads/?page=1"), BUDGETS["API page"])
        self.compare(f"lead list page {page:,} (API, cursor)", self.api_get(f"/api/v1/leads/?cursor={cursor}"),
                     f"page {page:,} (API, OFFSET)", self.api_get(f"/api/v1/leads/?page={page}"),
                     BUDGETS["API page"])

    def rolled_back(self, function):
        """A write as a request makes it, in a transaction of its own for the gym, rolled back after."""
        def run():
            with transaction.atomic(), gym_scope(self.gym):
                function()
                transaction.set_rollback(True)
        run.is_api_request = True  # type: ignore[attr-defined]  # it opens its own transaction
        return run

    def common_path(self):
        """Issue 16's scenarios: plain pages, a detail, writes and cached hits, each beside its budget."""
        leads = Lead.objects.for_gym(self.gym).order_by("-created_at", "-id")
        depth = min(50_000, (leads.count() // 100 - 1) * 100)  # page 501, or the last full page of a smaller gym
        cursor = encode_cursor(["-created_at", "-id"], list(leads.values_list("created_at", "id")[depth - 1]))
        lead = Lead.objects.for_gym(self.gym).filter(calls__isnull=False, appointments__isnull=False).first()
        appointment = Appointment.objects.for_gym(self.gym).filter(status="scheduled").first()
        month = (timezone.now().date() - datetime.timedelta(days=29), timezone.now().date())
        for name, url, budget in [
            ("a page of 100 leads (API)", "/api/v1/leads/?page_size=100", "API list"),
            ("leads status=new, newest first (API)", "/api/v1/leads/?status=new&ordering=-created_at&page_size=100",
             "API filtered"),
            (f"lead page {depth // 100 + 1} by number (API)", f"/api/v1/leads/?page={depth // 100 + 1}&page_size=100",
             "API deep page"),
            (f"lead cursor page at depth {depth:,} (API)", f"/api/v1/leads/?cursor={cursor}&page_size=100",
             "API cursor"),
            ("a lead's detail (API)", f"/api/v1/leads/{lead.pk}/", "API detail"),
            ("lead search 'smi' (API)", "/api/v1/leads/?search=smi&page_size=20", "API filtered"),
        ]:
            self.compare(name, self.api_get(url), "", None, BUDGETS[budget])
        phone = "+12025550100"
        self.compare("create a lead (rolled back)", self.rolled_back(lambda: create_lead(
            gym=self.gym.pk, data={"first_name": "Bench", "last_name": "Lead", "phone": phone})), "", None,
            BUDGETS["write"])
        self.compare("update a lead (rolled back)", self.rolled_back(lambda: update_lead(
            gym=self.gym.pk, lead_id=lead.pk, data={"notes": "bench"})), "", None, BUDGETS["write"])
        self.compare("a lead's status change (rolled back)", self.rolled_back(lambda: change_lead_status(
            gym=self.gym.pk, lead_id=lead.pk, status="lost")), "", None, BUDGETS["write"])
        self.compare("an appointment's status change (rolled back)", self.rolled_back(
            lambda: update_appointment_status(gym=self.gym.pk, appointment_id=appointment.pk, status="confirmed")),
            "", None, BUDGETS["write"])
        self.compare("a lead with its relationships", lambda: Lead.objects.for_gym(self.gym).with_relationships()
                     .get_by_id(lead.pk), "", None)
        cached = CachedLeadRepository(self.gym)
        self.as_a_request(lambda: (cached.prioritized(20), cached.conversion_stats(*month)))()  # fills the cache
        self.compare("cached prioritized leads, hit", lambda: cached.prioritized(20), "", None, BUDGETS["cached hit"])
        self.compare("cached conversion stats, hit", lambda: cached.conversion_stats(*month), "", None,
                     BUDGETS["cached hit"])
        self.api_get("/api/v1/leads/prioritized/")()
        self.compare("cached prioritized leads, hit (API)", self.api_get("/api/v1/leads/prioritized/"), "", None,
                     BUDGETS["cached API"])

    def workspace_pages(self):
        """The gym workspace's pages as its manager opens them, through Django's test client (no network)."""
        # generate_data makes sales staff only; the staff list is the managers'.
        manager = User.objects.for_gym(self.gym).filter(role__name="manager").first() or User.objects.create_user(
            "bench-manager@generated.test", None, gym=self.gym, role=Role.objects.get(name="manager"))
        browser = Client()
        browser.force_login(manager, backend="accounts.authentication.GymUserBackend")
        lead = Lead.objects.for_gym(self.gym).filter(calls__isnull=False, appointments__isnull=False).first()
        deep = min(200, Lead.objects.for_gym(self.gym).count() // 50)  # page 200, or the last full page

        def page(url):
            def get():
                response = browser.get(url)
                assert response.status_code == 200, (url, response.status_code)
            get.is_api_request = True  # type: ignore[attr-defined]  # a request: it opens its own transaction
            return get

        for name, url, budget in [
            ("workspace: dashboard", "/workspace/", "workspace page"),
            ("workspace: leads", "/workspace/leads/lead/", "workspace page"),
            ("workspace: leads status=new", "/workspace/leads/lead/?status__exact=new", "workspace page"),
            (f"workspace: leads page {deep}", f"/workspace/leads/lead/?p={deep}", "workspace page"),
            ("workspace: lead search 'smi'", "/workspace/leads/lead/?q=smi", "workspace search"),
            ("workspace: lead search '555-01'", "/workspace/leads/lead/?q=555-01", "workspace search"),
            ("workspace: a lead's page and timeline", f"/workspace/leads/lead/{lead.pk}/change/", "workspace page"),
            ("workspace: calls", "/workspace/calls/calllog/", "workspace page"),
            ("workspace: calls this week", "/workspace/calls/calllog/?when=week", "workspace page"),
            ("workspace: call search 'smi'", "/workspace/calls/calllog/?q=smi", "workspace search"),
            ("workspace: appointments, upcoming", "/workspace/appointments/appointment/", "workspace page"),
            ("workspace: agenda, this week", "/workspace/agenda/", "workspace page"),
            ("workspace: staff", "/workspace/accounts/user/", "workspace page"),
        ]:
            self.compare(name, page(url), "", None, BUDGETS[budget], runs=max(5, self.runs // 3))

    def platform_admin(self):
        """Every list of the platform admin (/admin/), and its searches, as platform staff open them across
        every gym (issue 21's budgets), and the largest gym's through the gym filter."""
        staff = User.objects.filter(email="bench-admin@generated.test").first() or User.objects.create_superuser(
            "bench-admin@generated.test", uuid.uuid4().hex)
        browser = Client()
        browser.force_login(staff, backend="accounts.authentication.GymUserBackend")
        lead = Lead.objects.unscoped().filter(gym=self.gym).order_by("created_at").first()
        mine = {"gym__id__exact": str(self.gym.pk)}

        def page(url, params):
            def get():
                response = browser.get(url, params)
                assert response.status_code == 200, (url, params, response.status_code)
            get.is_api_request = True  # type: ignore[attr-defined]  # a request: it opens its own transaction
            return get

        for model, model_admin in admin.site._registry.items():
            name = f"admin: {model._meta.app_label}.{model._meta.model_name}"
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            asked: list[tuple[str, dict[str, str], str]] = [("", {}, "admin page")]
            if model_admin.search_fields:
                asked += [(" ?q=smith", {"q": "smith"}, "admin search"), (" ?q=555-01", {"q": "555-01"}, "admin search"),
                          (" ?q=a lead's email", {"q": lead.email}, "admin search")]
            if isinstance(model_admin, TenantAdmin) and model in (Lead, CallLog, Appointment):
                asked += [(" largest gym", mine, "admin page"), (" largest gym ?q=smith", {**mine, "q": "smith"},
                                                                  "admin search")]
            for suffix, params, budget in asked:
                self.compare(name + suffix, page(url, params), "", None, BUDGETS[budget], runs=max(3, self.runs // 10))
        # Another row's form asking for rows (an appointment's lead and call), 20 at a time.
        for field_name in ("lead", "call"):
            params = {"app_label": "appointments", "model_name": "appointment", "field_name": field_name,
                      "term": "smith"}
            self.compare(f"admin: an appointment's {field_name} box 'smith'", page(reverse("admin:autocomplete"), params),
                         "", None, BUDGETS["admin search"], runs=max(3, self.runs // 10))

    def searches(self):
        repository = Lead.objects.for_gym(self.gym)

        def naive(term):  # the seed's search: ILIKE on four columns, no index can help
            def run():
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT id FROM leads_lead WHERE gym_id = %s AND (first_name ILIKE %s OR last_name ILIKE %s"
                        " OR email ILIKE %s OR phone ILIKE %s) LIMIT 20", [self.gym.pk] + [f"%{term}%"] * 4)
                    cursor.fetchall()
            return run

        for label, term in [("name fragment", "chae"), ("email fragment", "ez12"), ("phone fragment", "555-01"),
                            ("no match", "zzqx")]:
            self.compare(f"lead search: {label} ({term!r})", lambda term=term: list(repository.search(term)),
                         "ILIKE without an index", naive(term.replace("-", "")), BUDGETS["search"])

    # Leads of the search-isolation scenarios: a name, an email and an area code no generated lead has.
    ISOLATION_TERMS = [("name", "zebulonqx"), ("email", "zqmail"), ("phone", "808-555")]

    def search_isolation(self, own=200, others=10):
        """A search in the largest gym, alone with its matches, then with `others` gyms holding as many each
        (10x its own in all), then alone again: a search reads its own gym's index entries only (issue 20)."""
        gyms = list(Gym.objects.filter(name__startswith="Generated gym ").exclude(pk=self.gym.pk)
                    .order_by("name").values_list("pk", flat=True)[:others])

        def add(gym_ids):
            with connection.cursor() as cursor:
                cursor.execute("""
                    INSERT INTO leads_lead (id, gym_id, first_name, last_name, email, phone, status, source, notes,
                                            engagement_score, do_not_call, consent_source, created_at, updated_at)
                    SELECT gen_random_uuid(), g, 'Zebulonqx', 'Bench', 'zebulon.zqmail' || s || '@example.com',
                           '+1808555' || lpad(s::text, 4, '0'), 'new', 'bench', '', 0, false, '', now(), now()
                    FROM unnest(%s::uuid[]) AS g, generate_series(1, %s) AS s""", [gym_ids, own])
                cursor.execute("ANALYZE leads_lead")

        def remove(gym_ids):
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM leads_lead WHERE source = 'bench' AND gym_id = ANY(%s)", [gym_ids])
                cursor.execute("ANALYZE leads_lead")

        searches = {label: self.api_get(f"/api/v1/leads/?search={term}") for label, term in self.ISOLATION_TERMS}
        alone: dict[str, list[Any]] = {label: [] for label in searches}
        beside: dict[str, list[Any]] = {label: [] for label in searches}
        add([self.gym.pk])  # the platform's login: these statements are the bench's, not the application's
        try:
            for _ in range(3):  # alone, beside, alone, beside, alone, beside: the machine's drift is shared
                for label, search in searches.items():
                    alone[label].append(timed(search, max(5, self.runs // 3)))
                add(gyms)
                for label, search in searches.items():
                    beside[label].append(timed(search, max(5, self.runs // 3)))
                remove(gyms)
        finally:
            remove(gyms + [self.gym.pk])
        for label, term in self.ISOLATION_TERMS:
            mine = statistics.median(sample[0] for sample in beside[label])
            theirs = statistics.median(sample[0] for sample in alone[label])
            self.rows.append({"scenario": f"search {label} {term!r}, 10x matches elsewhere", "median_ms": mine,
                              "p95_ms": max(sample[1] for sample in beside[label]), "sql": beside[label][0][2],
                              "naive": "the same, no other gym's match", "naive_median_ms": theirs,
                              "naive_sql": alone[label][0][2], "budget_ms": None,
                              "isolation_ratio": round(mine / theirs, 2)})

    def aggregates(self):
        plain_leads, cached_leads = LeadRepository(self.gym), CachedLeadRepository(self.gym)
        plain_calls = CallRepository(self.gym)
        today = timezone.now().date()
        month = (today - datetime.timedelta(days=29), today)
        leads = Lead.objects.for_gym(self.gym)
        calls = CallLog.objects.for_gym(self.gym)

        def naive_prioritized():  # every open lead and its score to Python, sorted there
            rows = leads.filter(status__in=["new", "contacted", "qualified"]).values_list(
                "id", "qualification__score", "created_at")
            sorted(rows, key=lambda row: (-(row[1] if row[1] is not None else -1), -row[2].timestamp()))[:20]

        self.compare("prioritized leads", lambda: plain_leads.prioritized(20), "sorted in Python",
                     naive_prioritized, BUDGETS["prioritized"])

        def naive_stats():  # one query per status
            start, end = month
            return {status: leads.filter(status=status, created_at__date__gte=start, created_at__date__lte=end).count()
                    for status in LeadStatus.values}

        self.compare("conversion stats, uncached", lambda: plain_leads.conversion_stats(*month),
                     "one query per status", naive_stats)
        self.as_a_request(lambda: cached_leads.conversion_stats(*month))()  # fills the cache
        self.compare("conversion stats, cached", lambda: cached_leads.conversion_stats(*month),
                     "uncached", lambda: plain_leads.conversion_stats(*month), BUDGETS["cached"])
        stats_url = f"/api/v1/leads/stats/?start={month[0]}&end={month[1]}"
        self.api_get(stats_url)()  # fills the cache
        self.compare("conversion stats, cached (API)", self.api_get(stats_url), "uncached (ORM)",
                     lambda: plain_leads.conversion_stats(*month), BUDGETS["cached"])

        def naive_metrics():  # every call of the month to Python
            start = timezone.now() - datetime.timedelta(days=30)
            rows = list(calls.filter(start_time__gte=start).values_list("duration", "outcome"))
            durations = [duration for duration, _ in rows if duration is not None]
            return {"total_calls": len(rows), "avg_duration": sum(durations) // max(len(durations), 1),
                    "outcomes": {o: sum(1 for _, outcome in rows if outcome == o) for o in CallOutcome.values}}

        self.compare("call metrics, 30 days, uncached", lambda: plain_calls.metrics(*month),
                     "aggregated in Python", naive_metrics, BUDGETS["call metrics"])

        def naive_upcoming():  # every scheduled call to Python, sorted there
            now = timezone.now()
            rows = [row for row in calls.filter(status="scheduled").values_list("id", "start_time") if row[1] > now]
            sorted(rows, key=lambda row: row[1])[:20]

        self.compare("upcoming calls", lambda: plain_calls.upcoming(20), "filtered and sorted in Python",
                     naive_upcoming, BUDGETS["upcoming calls"])

        def naive_dashboard():  # every lead to Python
            rows = list(leads.values_list("status", "created_at", "source"))
            counts = {status: sum(1 for row in rows if row[0] == status) for status in LeadStatus.values}
            return counts

        self.compare("lead dashboard, uncached", plain_leads.dashboard, "aggregated in Python", naive_dashboard,
                     BUDGETS["dashboard"])

    def appointments_and_details(self):
        appointments = Appointment.objects.for_gym(self.gym)
        sample = appointments.exclude(staff=None).filter(status__in=["scheduled", "confirmed"]).first()
        start, end = sample.scheduled_time + datetime.timedelta(minutes=10), sample.end_time + datetime.timedelta(hours=1)

        def naive_conflict():  # the seed's three-way OR and a COUNT
            appointments.filter(staff_id=sample.staff_id, status__in=["scheduled", "confirmed"]).filter(
                Q(scheduled_time__lte=start, end_time__gte=start) | Q(scheduled_time__lte=end, end_time__gte=end)
                | Q(scheduled_time__gte=start, end_time__lte=end)).count()

        self.compare("appointment conflict check", lambda: appointments.has_conflict(sample.staff_id, start, end),
                     "the seed's OR query with COUNT", naive_conflict, BUDGETS["conflict check"])

        lead = Lead.objects.for_gym(self.gym).filter(calls__isnull=False, appointments__isnull=False).first()

        def naive_detail():  # relationships read one by one
            row = Lead.objects.for_gym(self.gym).get(pk=lead.pk)
            getattr(row, "qualification", None)
            list(row.tags.all()), list(row.calls.all()), list(row.appointments.all())

        self.compare("lead detail with relationships (API)", self.api_get(f"/api/v1/leads/{lead.pk}/"),
                     "relationships one by one (ORM)", naive_detail, BUDGETS["API page"])

    def invalidation(self):
        redis = get_redis_connection("default")
        for keys in (10, 100_000):
            cache.clear()
            pipeline = redis.pipeline(transaction=False)
            for n in range(keys):
                pipeline.set(cache.make_key(f"repo:lead_stats:{self.gym.pk}:0.0:{n:016x}"), "{}", ex=600)
                if n % 10_000 == 9_999:
                    pipeline.execute()
            pipeline.execute()
            mine = timed(lambda: invalidate(self.gym.pk, everything()), self.runs)
            started = time.perf_counter()
            cache.delete_pattern(  # type: ignore[attr-defined]
                f"repo:*:{self.gym.pk}:*")
            naive = (time.perf_counter() - started) * 1000
            self.rows.append({"scenario": f"invalidate a gym's cache, {keys:,} keys", "median_ms": mine[0],
                              "p95_ms": mine[1], "sql": 0, "naive": "delete_pattern (SCAN + DEL), one run",
                              "naive_median_ms": naive, "naive_sql": 0, "budget_ms": BUDGETS["invalidate"]})
        cache.clear()

    def policy_cost(self):
        """What row-level security costs: the same queries as the application role and as the platform login."""
        # The querysets, not the repositories: those refuse to read outside a gym's transaction.
        calls = CallLog.objects.for_gym(self.gym)
        today = timezone.now().date()
        month = (today - datetime.timedelta(days=29), today)
        page = Lead.objects.for_gym(self.gym).order_by("-created_at", "-id")
        for name, query in [
            ("a page of 25 leads, newest first", lambda: list(page[:25])),
            ("call metrics, 30 days, uncached", lambda: calls.metrics(*month)),
            ("lead dashboard, uncached", lambda: lead_dashboard(self.gym)),
        ]:
            self.compare(f"under row-level security: {name}", query, "the same, no policy (platform login)", query,
                         naive_as_platform=True)

    def http_throughput(self, seconds):
        """Requests per second on the lead list under gunicorn (production settings), from local threads."""
        port, metrics_dir = free_port(), f"/tmp/reps-bench-metrics-{os.getpid()}"
        db = connection.settings_dict  # the database this run reads, whatever DATABASE_URL said
        # Our SECRET_KEY: the database checks gym proofs with the key the last migrate stored, ours.
        env = {**os.environ,
               "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
               "REPS_ENV": "production", "SECRET_KEY": settings.SECRET_KEY, "ALLOWED_HOSTS": "127.0.0.1",
               "SECURE_SSL_REDIRECT": "0", "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2",
               "PROMETHEUS_MULTIPROC_DIR": metrics_dir, "LOG_LEVEL": "WARNING"}
        server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--config", "gunicorn.conf.py",
                                   "--access-logfile", "/dev/null"], cwd=settings.BASE_DIR, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        token = self.token
        url = f"http://127.0.0.1:{port}/api/v1/leads/?pagination=cursor"
        try:
            answers_livez(port)
            latencies, stop = [], time.monotonic() + seconds
            errors: list[Any] = [0]

            def worker():
                request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
                while time.monotonic() < stop:
                    started = time.perf_counter()
                    try:
                        urllib.request.urlopen(request, timeout=10).read()
                        latencies.append((time.perf_counter() - started) * 1000)
                    except OSError as error:
                        errors[0] += 1
                        errors.append(error)

            threads = [threading.Thread(target=worker) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        self.rows.append({"scenario": f"HTTP lead list under gunicorn, 2 workers, 4 clients, {seconds} s",
                          "median_ms": statistics.median(latencies) if latencies else None,
                          "p95_ms": sorted(latencies)[int(len(latencies) * 0.95)] if latencies else None,
                          "sql": None, "naive": f"{len(latencies) / seconds:.0f} requests/s, {errors[0]} errors"
                          + (f" (the first: {errors[1]})" if errors[0] else ""),
                          "naive_median_ms": None, "naive_sql": None, "budget_ms": None})

    # --- report ---------------------------------------------------------------------------------------

    def report(self, output):
        leads = Lead.objects.for_gym(self.gym).count()
        calls = CallLog.objects.for_gym(self.gym).count()
        all_leads, all_calls = Lead.objects.unscoped().count(), CallLog.objects.unscoped().count()
        self.stdout.write(f"\nThe largest gym: {leads:,} leads, {calls:,} calls (all gyms: {all_leads:,} leads, "
                          f"{all_calls:,} calls). Milliseconds; medians of {self.runs} runs.")
        self.stdout.write(f"{'scenario':<46}{'median':>9}{'p95':>9}{'SQL':>5}{'budget':>8}   "
                          f"{'naive':<36}{'median':>10}{'SQL':>6}{'ratio':>8}")
        for row in self.rows:
            fmt = lambda value, width, digits=2: f"{value:>{width}.{digits}f}" if value is not None else " " * width  # noqa: E731
            ratio = (row["naive_median_ms"] / row["median_ms"]) if row["naive_median_ms"] and row["median_ms"] else None
            row["ratio"] = round(ratio, 1) if ratio else None
            self.stdout.write(
                f"{row['scenario']:<46}{fmt(row['median_ms'], 9)}{fmt(row['p95_ms'], 9)}"
                f"{row['sql'] if row['sql'] is not None else '':>5}{row['budget_ms'] or '':>8}   {row['naive']:<36}"
                f"{fmt(row['naive_median_ms'], 10)}{row['naive_sql'] if row['naive_sql'] is not None else '':>6}"
                f"{(f'{ratio:.2f}x' if ratio and ratio < 10 else f'{ratio:.0f}x' if ratio else ''):>8}"
            )
        path = Path(settings.BASE_DIR) / output
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"largest_gym": {"leads": leads, "calls": calls},
                                    "all_gyms": {"leads": all_leads, "calls": all_calls}, "runs": self.runs,
                                    "results": self.rows}, indent=2, default=str))
        self.stdout.write(f"\nWritten to {path}")
