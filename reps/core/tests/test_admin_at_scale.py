"""The platform admin on generated data (generate_data at a tiny size; `make bench` times it at full size):
every list and search runs a bounded number of queries, none counts a whole table, none lists the dates of
every row; the gym filter finds gyms as one types and keeps a list to its gym; the searches' two ways (a few
matching leads by id, many by their LIKEs) find the same rows."""

import io
import re
import uuid

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role
from calls.models import CallLog, CallTranscript
from gyms.models import Gym
from leads import querysets
from leads.models import Lead
from reps.core.management.commands.generate_data import NAMESPACE
from reps.tenancy.admin import TenantAdmin
from reps.tenancy.state import all_gyms

pytestmark = pytest.mark.django_db(transaction=True)

TINY = {"gyms": 3, "leads": 3000, "calls": 9000, "largest_leads": 2000, "largest_calls": 6000}
# Session, user, the page's rows, its count, the lead search's ids, what the filters list (a few choices),
# the admin's own: whatever the size, no list needs more.
MOST_QUERIES = 12
# Rows platform staff make by hand, a handful: Django's own list, with its count, serves them.
FEW_ROWS = {Group, Role}
# A COUNT that stops: over a subquery with a LIMIT.
COUNT_THAT_STOPS = re.compile(r"SELECT COUNT\(\*\) FROM \(SELECT .* LIMIT \d+\) subquery$", re.S)


def counted_at_most(sql):
    return int(re.search(r"LIMIT (\d+)\) subquery$", sql).group(1))


@pytest.fixture
def generated():
    call_command("generate_data", stdout=io.StringIO(), **TINY)
    return Gym.objects.get(pk=uuid.uuid5(NAMESPACE, "42-0"))


def listed(client, model, **params):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    return response, [query["sql"] for query in queries.captured_queries]


def test_every_list_and_search_runs_bounded_queries_and_counts_no_whole_table(generated, admin_client):
    with all_gyms():
        lead = Lead.objects.unscoped().filter(gym=generated).order_by("created_at").first()
        CallLog.objects.unscoped().filter(pk=CallLog.objects.unscoped().filter(gym=generated).first().pk).update(
            retell_call_id="call_8f3a19c2")
    terms = ["smith", "555", lead.email, lead.last_name.lower() + " " + lead.first_name.lower(), "call_8f3"]
    checked = 0
    for model, model_admin in admin.site._registry.items():
        if model in FEW_ROWS:
            continue
        for params in [{}, {"gym__id__exact": str(generated.pk)}] if isinstance(model_admin, TenantAdmin) else [{}]:
            for term in [None, *terms] if model_admin.search_fields else [None]:
                asked = {**params, **({"q": term} if term else {})}
                response, statements = listed(admin_client, model, **asked)
                assert response.status_code == 200, (model, asked, response.status_code)
                assert len(statements) <= MOST_QUERIES, (model, asked, statements)
                counts = [sql for sql in statements if re.search(r"\bCOUNT\(", sql, re.I)]
                assert all(COUNT_THAT_STOPS.match(sql) for sql in counts), (model, asked, counts)
                if term and isinstance(model_admin, TenantAdmin):  # a search across gyms: past the next page
                    assert all(counted_at_most(sql) <= 201 for sql in counts), (model, asked, counts)
                # The dates of every row (a date hierarchy): a pass over the table.
                assert not [sql for sql in statements if "DATE_TRUNC" in sql and "DISTINCT" in sql], (model, asked)
                checked += 1
    assert checked > 60


def test_every_autocomplete_runs_bounded_queries_and_counts_no_whole_table(generated, admin_client):
    """Another row's form asking for rows (a call's lead, an appointment's call...), 20 at a time: its count
    stops past the next 20 (the call box's count of 1,000 calls of "smith" took 2 s at 5,000,000)."""
    checked = 0
    for model, model_admin in admin.site._registry.items():
        for field_name in model_admin.autocomplete_fields:
            for term in ["smith", "555", ""]:
                params = {"app_label": model._meta.app_label, "model_name": model._meta.model_name,
                          "field_name": field_name, "term": term}
                with CaptureQueriesContext(connection) as queries:
                    response = admin_client.get(reverse("admin:autocomplete"), params)
                statements = [query["sql"] for query in queries.captured_queries]
                assert response.status_code == 200, (params, response.status_code)
                assert len(statements) <= MOST_QUERIES, (params, statements)
                counts = [sql for sql in statements if re.search(r"\bCOUNT\(", sql, re.I)]
                assert all(COUNT_THAT_STOPS.match(sql) for sql in counts), (params, counts)
                assert all(counted_at_most(sql) <= 41 for sql in counts), (params, counts)  # past the next 20
                checked += 1
    assert checked > 40


def test_a_big_list_says_how_many_at_least_and_links_the_pages_after(generated, admin_client):
    response, _ = listed(admin_client, CallLog)
    page = response.content.decode()
    assert "1,000+ call logs" in page  # 9,000 calls: the count stopped
    assert "Show all" not in page  # nothing filtered: no "results" of the whole list
    assert "?p=10" in page and "?p=11" in page  # the pages up to the stop and the next one
    response, _ = listed(admin_client, CallLog, p=11)
    assert response.status_code == 200 and len(response.context["cl"].result_list) == 100


def test_the_calls_are_newest_first_and_the_gym_filter_keeps_to_its_gym(generated, admin_client):
    response, _ = listed(admin_client, CallLog, gym__id__exact=str(generated.pk))
    rows = list(response.context["cl"].result_list)
    assert rows and {row.gym_id for row in rows} == {generated.pk}
    starts = [row.start_time for row in rows if row.start_time]
    assert starts == sorted(starts, reverse=True)
    with all_gyms():
        other = Gym.objects.exclude(pk=generated.pk).first()
        lead = Lead.objects.unscoped().filter(gym=other).first()
    # The other gym's lead, searched in this gym's list: not there (this gym's leads with the same email
    # may be); in its own gym's, there.
    response, _ = listed(admin_client, Lead, gym__id__exact=str(generated.pk), q=lead.email)
    found = list(response.context["cl"].result_list)
    assert lead not in found and {row.gym_id for row in found} <= {generated.pk}
    response, _ = listed(admin_client, Lead, gym__id__exact=str(other.pk), q=lead.email)
    assert lead in response.context["cl"].result_list


def test_the_gym_filter_is_a_box_that_finds_gyms_not_a_link_per_gym(generated, admin_client):
    response, _ = listed(admin_client, Lead)
    page = response.content.decode()
    assert 'class="admin-autocomplete reps-gym-filter-box"' in page and "reps/gym_filter.js" in page
    assert "gym__id__exact=" + str(generated.pk) not in page  # no link per gym
    response, _ = listed(admin_client, Lead, gym__id__exact=str(generated.pk))
    assert f'<option value="{generated.pk}" selected>{generated.name}</option>' in response.content.decode()
    found = admin_client.get(reverse("admin:autocomplete"), {"app_label": "leads", "model_name": "lead",
                                                             "field_name": "gym", "term": generated.name[:6]})
    assert found.status_code == 200
    assert str(generated.pk) in [result["id"] for result in found.json()["results"]]


def test_a_query_a_list_does_not_understand_is_refused_not_ignored(generated, admin_client):
    url = reverse("admin:calls_calllog_changelist")
    # The list's "bad filter" answer: a malformed gym, one given twice, a sort by a column (every call sorted
    # for a page: 9 s at 5,000,000), a page that is no number.
    for query in ["gym__id__exact=not-a-gym", "gym__id__exact=00000000-0000-0000-0000-00000000000g",
                  f"gym__id__exact={generated.pk}&gym__id__exact={uuid.uuid4()}", "o=1", "o=-1", "o=1.99", "p=abc"]:
        response = admin_client.get(f"{url}?{query}")
        assert response.status_code == 302 and response.url.endswith("?e=1"), query
    # The gym written another way than the filter writes it: refused (it filtered while the filter said
    # "All gyms").
    for query in [f"gym={generated.pk}", f"gym_id={generated.pk}", f"gym__id={generated.pk}", "gym__name__startswith=a"]:
        assert admin_client.get(f"{url}?{query}").status_code == 400, query


def test_a_broad_search_finds_what_a_narrow_one_finds(generated, admin_client, monkeypatch):
    """The leads found by id (few matches) and by their LIKEs alone (many: more than BROAD_SEARCH_MATCHES)
    are the same rows, in the same order."""
    for model, lead in [(Lead, ""), (CallLog, "lead"), (CallTranscript, "call__lead")]:
        for term in ["smith", "555", "ar", "son ha"]:
            monkeypatch.setattr(querysets, "BROAD_SEARCH_MATCHES", 2_000)
            same_either_way(admin_client, monkeypatch, generated, model, lead, term)


def same_either_way(admin_client, monkeypatch, generated, model, lead, term):
    def everything_listed():
        rows, page = [], 1
        while True:
            response, _ = listed(admin_client, model, q=term, p=page, gym__id__exact=str(generated.pk))
            if response.status_code == 404 or not response.context or not response.context["cl"].result_list:
                return rows
            rows += [row.pk for row in response.context["cl"].result_list]
            page += 1
            if len(response.context["cl"].result_list) < 100 or page > 3:  # the last page, or three
                return rows

    narrow = everything_listed()
    monkeypatch.setattr(querysets, "BROAD_SEARCH_MATCHES", 0)
    broad = everything_listed()
    assert broad == narrow, (model, term)
    with all_gyms():
        leads = Lead.objects.unscoped().for_gym(generated).matching(term).values("pk")
        rows = model.objects.unscoped().filter(**{f"{lead}__in" if lead else "pk__in": leads})
        assert narrow and len(narrow) == min(rows.count(), 300), (model, term)  # three pages of 100 at most


def test_a_call_is_found_by_the_beginning_of_its_platform_id(generated, admin_client):
    with all_gyms():
        call = CallLog.objects.unscoped().filter(gym=generated).first()
        call.retell_call_id = "call_zq81hw4example"
        call.save(update_fields=["retell_call_id"])
    for term in ("call_zq81hw4example", "call_zq81", "call_zq8"):
        response, _ = listed(admin_client, CallLog, q=term)
        assert [row.pk for row in response.context["cl"].result_list] == [call.pk], term
    # Not its beginning: not found (a LIKE '%...%' on the ids was a pass over every call); the term is
    # looked for in the leads' names then.
    response, _ = listed(admin_client, CallLog, q="hwexample")
    assert list(response.context["cl"].result_list) == []
