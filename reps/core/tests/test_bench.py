"""generate_data and make bench at a tiny size (the real run is `make bench`), and the planner using the indexes."""

import datetime
import io
import json
import uuid

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from calls.models import CallLog
from gyms.models import Gym
from leads.models import Lead
from reps.core.management.commands.generate_data import NAMESPACE
from reps.tenancy.database import gym_scope
from reps.tenancy.state import all_gyms

pytestmark = pytest.mark.django_db(transaction=True)

TINY = {"gyms": 3, "leads": 3000, "calls": 9000, "largest_leads": 2000, "largest_calls": 6000}


def test_generate_data_makes_the_asked_sizes_and_is_repeatable():
    call_command("generate_data", stdout=io.StringIO(), **TINY)
    largest = Gym.objects.get(pk=uuid.uuid5(NAMESPACE, "42-0"))
    with all_gyms():
        first = sorted(Lead.objects.for_gym(largest).values_list("id", "first_name", "status"))
        assert len(first) == 2000 and CallLog.objects.for_gym(largest).count() == 6000
        assert Lead.objects.unscoped().count() == 3000 and CallLog.objects.unscoped().count() == 9000

    out = io.StringIO()
    call_command("generate_data", if_missing=True, stdout=out, **TINY)
    assert "there already" in out.getvalue()
    call_command("generate_data", stdout=io.StringIO(), **TINY)  # replaces, same data
    with all_gyms():
        assert sorted(Lead.objects.for_gym(largest).values_list("id", "first_name", "status")) == first


def test_bench_runs_every_scenario_and_writes_json(tmp_path, settings):
    call_command("generate_data", stdout=io.StringIO(), **TINY)
    output = tmp_path / "results.json"

    call_command("bench", runs=2, http_seconds=1, output=str(output), stdout=io.StringIO())

    results = json.loads(output.read_text())
    names = [row["scenario"] for row in results["results"]]
    for expected in ["lead list page 80 (API, cursor)", "lead search: no match ('zzqx')", "prioritized leads",
                     "conversion stats, cached", "call metrics, 30 days, uncached", "lead dashboard, uncached",
                     "appointment conflict check", "lead detail with relationships (API)",
                     "invalidate a gym's cache, 100,000 keys", "a page of 100 leads (API)",
                     "lead page 20 by number (API)", "lead cursor page at depth 1,900 (API)",
                     "create a lead (rolled back)", "update a lead (rolled back)",
                     "an appointment's status change (rolled back)", "cached prioritized leads, hit",
                     "cached prioritized leads, hit (API)", "workspace: dashboard", "workspace: leads",
                     "workspace: lead search '555-01'", "workspace: a lead's page and timeline", "workspace: agenda, this week",
                     "admin: calls.calllog", "admin: calls.calllog ?q=555-01", "admin: leads.lead largest gym ?q=smith",
                     "admin: appointments.appointment ?q=a lead's email", "admin: an appointment's call box 'smith'"]:
        assert expected in names
    assert [(row["scenario"], row["naive"]) for row in results["results"] if row["median_ms"] is None] == []
    assert results["largest_gym"] == {"leads": 2000, "calls": 6000}


@pytest.mark.parametrize(
    "query, index",
    [
        ("prioritized", "leadqual_gym_score_idx"),
        ("upcoming", "calllog_gym_status_start_idx"),
        ("metrics", "calllog_gym_start_idx"),
        ("conflict", "appointment_staff_no_overlap"),
    ],
)
def test_the_planner_uses_the_indexes_made_for_each_query(query, index):
    call_command("generate_data", stdout=io.StringIO(), **TINY)
    largest = Gym.objects.get(pk=uuid.uuid5(NAMESPACE, "42-0"))
    # As a request runs: the application role under row-level security, in the gym's transaction.
    with transaction.atomic(), gym_scope(largest):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # tiny tables: show the index is usable for this query
        leads, calls = Lead.objects.for_gym(largest), CallLog.objects.for_gym(largest)
        plan = {
            "prioritized": lambda: leads.filter(status__in=["new"], qualification__gym_id=largest.pk)
            .order_by("-qualification__score")[:20].explain(),
            "upcoming": lambda: calls.filter(status="scheduled", start_time__gt="2026-01-01T00:00:00Z").order_by("start_time")[:20]
            .explain(),
            "conflict": lambda: conflict_plan(largest),
            "metrics": lambda: calls.filter(start_time__gte=timezone.now() - datetime.timedelta(days=30))
            .order_by().values("outcome", "duration").explain(),
        }[query]()
    assert index in plan, plan


def test_lead_search_reaches_the_gyms_trigram_keys_at_100000_leads():
    """What reps_lead_matches() runs inside, as the planner chooses it for a gym of 100,000 leads.

    The search runs as the leads table's owner inside a function (leads migrations 0006, 0010), so EXPLAIN of
    the request's query cannot show it: auto_explain reports the statements run inside functions too.
    """
    call_command("generate_data", stdout=io.StringIO(), gyms=2, leads=101_000, calls=2, largest_leads=100_000,
                 largest_calls=1)
    largest = Gym.objects.get(pk=uuid.uuid5(NAMESPACE, "42-0"))
    plans = []
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("LOAD 'auto_explain'")
            cursor.execute("SET LOCAL auto_explain.log_min_duration = 0; SET LOCAL auto_explain.log_level = notice;"
                           " SET LOCAL auto_explain.log_nested_statements = on")
        def note(notice):
            plans.append(notice.message_primary)
        connection.connection.add_notice_handler(note)
        with gym_scope(largest):
            leads = Lead.objects.for_gym(largest)
            found = {}
            for term in ["chae", "ez12", "555-01", "zzqx"]:  # a first name's, an email's, a phone's, nobody's
                plans.clear()
                found[term] = leads.matching(term).count()
                inner = [plan for plan in plans if "FROM public.leads_lead WHERE gym_id IS NOT DISTINCT FROM" in plan]
                assert len(inner) == 1 and "Bitmap Index Scan on lead_search_keys_idx" in inner[0], plans
                # The gym in the index condition: its keys are the gym's (leads migration 0010).
                assert "Index Cond: (public.reps_search_keys(gym_id, " in inner[0], inner[0]
                assert "Seq Scan" not in inner[0] and "lead_gym_" not in inner[0], inner[0]
            # A rare term, newest first: the keys again, not a walk through the gym's leads.
            plans.clear()
            assert list(leads.search("zzqx")) == []
            assert any("Bitmap Index Scan on lead_search_keys_idx" in plan for plan in plans), plans
        connection.connection.remove_notice_handler(note)
    assert found["chae"] > 100 and found["ez12"] > 10 and found["555-01"] > 10 and found["zzqx"] == 0


def conflict_plan(gym):
    from appointments.models import Appointment

    appointments = Appointment.objects.for_gym(gym)
    booked = appointments.exclude(staff=None).filter(status__in=["scheduled", "confirmed"]).first()
    return appointments.conflicts(booked.staff_id, booked.scheduled_time, booked.end_time).explain()
