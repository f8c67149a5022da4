"""A gym's lead search reads its own gym's index entries only, and keeps its plan without statistics.

The plans are those PostgreSQL ran, as auto_explain reports them (it reports the statements inside
reps_lead_matches() too, which EXPLAIN of the request's queries cannot show); nothing here is timed.
"""

import re
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.tests.factories import UserFactory
from leads.imports import import_leads
from leads.models import Lead
from reps.core.testing import as_application_role
from reps.tenancy.database import gym_scope

# Searches by a name, an email and a phone fragment, each matching leads of both gyms.
TERMS = ["nowak", "nowakowski1", "212-555"]
INNER = "FROM public.leads_lead WHERE gym_id"  # the statement reps_lead_matches() runs


def add_leads(gym, count, last_name, start):
    with gym_scope(gym):
        Lead.objects.bulk_create(
            Lead(gym=gym, first_name="Ola", last_name=last_name, email=f"ola.{last_name.lower()}{n}@example.com",
                 phone=f"+1212555{n:04d}") for n in range(start, start + count))


@contextmanager
def executed_plans():
    """The plans of the statements run in the block, with their rows and buffers, without times or costs."""
    plans = []
    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        cursor.execute("SET LOCAL auto_explain.log_min_duration = 0; SET LOCAL auto_explain.log_level = notice;"
                       " SET LOCAL auto_explain.log_nested_statements = on; SET LOCAL auto_explain.log_analyze = on;"
                       " SET LOCAL auto_explain.log_buffers = on; SET LOCAL auto_explain.log_timing = off")

    def note(notice):
        plans.append(re.sub(r"^duration: \S+ ms|\(cost=[^)]*\) ", "", notice.message_primary))

    connection.connection.add_notice_handler(note)
    try:
        yield plans
    finally:
        connection.connection.remove_notice_handler(note)


def forget_statistics():
    """The planner knows nothing of leads_lead: as after a restore, or before autovacuum's first visit."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM pg_statistic WHERE starelid = 'leads_lead'::regclass")
        cursor.execute("UPDATE pg_class SET reltuples = -1 WHERE oid = 'leads_lead'::regclass")


def test_a_gyms_search_reads_none_of_another_gyms_index_entries(gym, other_gym):
    add_leads(gym, 40, "Nowakowski", 0)
    add_leads(gym, 260, "Smith", 40)

    def searched():
        plans, found = {}, {}
        with transaction.atomic(), executed_plans() as notes, gym_scope(gym):
            for term in TERMS:
                notes.clear()
                found[term] = Lead.objects.for_gym(gym).matching(term).count()
                [plans[term]] = [plan for plan in notes if INNER in plan]
        return plans, found

    alone, found_alone = searched()
    # Gym B: 50 times gym A's matches of the name, 7 times those of the phone, in the same index.
    add_leads(other_gym, 1000, "Nowakowska", 0)
    add_leads(other_gym, 1000, "Nowakowski", 1000)
    beside, found_beside = searched()

    assert found_alone == found_beside == {"nowak": 40, "nowakowski1": 11, "212-555": 300}
    for term in TERMS:
        # Read through gym A's keys only: the same index pages, and no row of gym B reached the table's
        # recheck (the rows each index scan found are the same as before gym B's leads).
        assert "Bitmap Index Scan on lead_search_keys_idx" in alone[term], alone[term]
        assert "Seq Scan" not in alone[term] and "Rows Removed" not in alone[term], alone[term]
        assert beside[term] == alone[term], (term, alone[term], beside[term])


def test_the_search_keeps_its_plan_without_statistics(gym, other_gym, api_client_for):
    """Right after a bulk import, before any ANALYZE: the planner may think the gym has no leads at all.

    It joined every match to every lead of the gym then (a nested loop over the function's rows: 2,250
    leads took 210 ms, 10,000 would take seconds); now it looks the page's ids up in an array of known length.
    """
    add_leads(gym, 50, "Nowakowski", 0)
    add_leads(other_gym, 3000, "Nowakowski", 0)
    forget_statistics()
    client = api_client_for(UserFactory(gym=other_gym))
    keys, gym_index = r"Bitmap Index Scan on lead_search_keys_idx", r"Index (Only )?Scan (on|using) (leads_)?lead_gym_"
    for term, count, index in [("nowak", 3000, keys), ("zzqx", 0, keys),
                               ("a", 3000, gym_index)]:  # "a": no trigram, so the gym's own leads
        with executed_plans() as plans:
            answer = client.get("/api/v1/leads/", {"search": term, "page_size": 20})
        assert answer.status_code == 200 and answer.json()["count"] == count, answer.content
        for plan in [plan for plan in plans if "leads_lead" in plan]:
            # (leads_lead itself: a small tag table's sequential scan is no harm)
            assert not re.search(r"Seq Scan on leads_lead\b", plan) and "Join Filter" not in plan, plan
        searched = [plan for plan in plans if INNER in plan]
        assert len(searched) == 1 and re.search(index, searched[0]), searched
        # The function's rows are read by one statement of their own, joined to nothing.
        assert sum("reps_lead_matches" in plan for plan in plans) == 1, plans


@pytest.mark.django_db(transaction=True)
def test_an_import_refreshes_the_statistics_the_search_plans_with(gym):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM pg_statistic WHERE starelid = 'leads_lead'::regclass")
    text = "first_name,last_name,phone\n" + "".join(f"Lea,Vandersloot,+1415555{n:04d}\n" for n in range(150))
    with as_application_role():  # which owns no table: it asks the database's reps_analyze_leads()
        report = import_leads(gym=gym.pk, text=text)
    assert report.created == 150
    with connection.cursor() as cursor:
        cursor.execute("SELECT most_common_vals::text FROM pg_stats WHERE tablename = 'leads_lead'"
                       " AND attname = 'last_name'")
        assert "Vandersloot" in cursor.fetchone()[0]


NAME_LETTERS = "abcxyzÄäÖöÜüßéÉñÑçøÅİıŁłΣσςЖж'- 09"


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_fragment_of_a_name_or_email_finds_its_lead_in_its_gym_only(gym, other_gym, data):
    """The keys of a fragment are among those of every value it is part of, whatever the letters: a search
    finds what LIKE finds (any case), in the gym's own leads and, for the platform, in every gym's."""
    name = data.draw(st.text(NAME_LETTERS, min_size=1, max_size=14).filter(str.strip))
    column = data.draw(st.sampled_from(["first_name", "last_name", "email"]))
    value = getattr(Lead(first_name=name, last_name=name, email=f"{name}@example.com"), column)
    start = data.draw(st.integers(0, len(value) - 1))
    fragment = value[start:data.draw(st.integers(start + 1, len(value)))].strip()
    fragment = data.draw(st.sampled_from([fragment, fragment.upper(), fragment.lower()]))
    if not fragment or len(fragment.split()) > 1 or re.fullmatch(r"[\d\s()+.\-/]+", fragment):
        return  # several words, or a phone's search: other properties
    with transaction.atomic():
        mine = Lead.objects.create(gym=gym, first_name=name, last_name=name, email=f"{name}@example.com",
                                   phone="+12125550100")
        theirs = Lead.objects.create(gym=other_gym, first_name=name, last_name=name, email=f"{name}@example.com",
                                     phone="+12125550100")
        with connection.cursor() as cursor:  # LIKE's answer, with the database's upper() ("ß" stays "ß")
            cursor.execute("SELECT strpos(upper(%s), upper(%s)) > 0", [value, fragment])
            [expected] = cursor.fetchone()
        with transaction.atomic(), gym_scope(gym):
            found = set(Lead.objects.for_gym(gym).matching(fragment).values_list("pk", flat=True))
        assert found == ({mine.pk} if expected else set()), (value, fragment)
        platform = set(Lead.objects.unscoped().matching(fragment).values_list("pk", flat=True))
        assert platform == ({mine.pk, theirs.pk} if expected else set()), (value, fragment)
        transaction.set_rollback(True)
