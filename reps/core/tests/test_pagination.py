"""Every list endpoint pages every row exactly once: cursor pages forward and back, and numbered pages.

For each list, every allowed ordering (each field, both directions, and the
list's default), over rows with ties and with empty values in the nullable
columns (the rows DRF's cursor pages dropped), beside another gym's rows
that must never appear. A property test then draws the rows, the ordering
and the page size.
"""

import datetime
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from accounts.tests.factories import UserFactory
from appointments.models import Appointment
from appointments.tests.factories import AppointmentFactory
from calls.models import CallLog, Campaign
from calls.tests.factories import CallLogFactory, CampaignFactory
from gyms.models import Branch, KnowledgeBaseEntry
from gyms.tests.factories import BranchFactory, KnowledgeBaseEntryFactory
from leads.models import Lead, LeadTag
from leads.tests.factories import LeadFactory, LeadTagFactory
from notifications.models import Notification
from notifications.tests.factories import NotificationFactory
from reps.urls import router

pytestmark = pytest.mark.django_db

T = datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC)
MOMENTS = [T, T + datetime.timedelta(hours=1), T - datetime.timedelta(days=3)]
DAYS = [datetime.date(2026, 3, 1), datetime.date(2026, 4, 1)]


def lead(gym: Any, n: int) -> Lead:
    return LeadFactory(gym=gym, phone=f"+1212555{n:04d}")


# list URL: (the model, how to make one row of a gym, the pools each ordering column takes values from)
LISTS: dict[str, tuple[Any, Callable[[Any, int], Any], dict[str, list[Any]]]] = {
    "leads": (Lead, lead, {
        "created_at": MOMENTS, "updated_at": MOMENTS, "first_name": ["Ann", "Bob"], "last_name": ["Lee", "Kim"],
        "status": ["new", "lost"], "engagement_score": [0, 40], "last_interaction": [*MOMENTS[:2], None]}),
    "tags": (LeadTag, lambda gym, n: LeadTagFactory(gym=gym, name=f"tag {n:03d}"), {"created_at": MOMENTS}),
    "calls": (CallLog, lambda gym, n: CallLogFactory(lead=lead(gym, n)), {
        "start_time": [*MOMENTS[:2], None], "created_at": MOMENTS, "duration": [30, 90, None],
        "status": ["scheduled", "completed"]}),
    "campaigns": (Campaign, lambda gym, n: CampaignFactory(gym=gym), {
        "name": ["Spring", "Autumn"], "created_at": MOMENTS, "starts_on": [*DAYS, None]}),
    "appointments": (Appointment, lambda gym, n: AppointmentFactory(lead=lead(gym, n), staff=None), {
        "scheduled_time": MOMENTS[:2], "created_at": MOMENTS, "status": ["scheduled", "cancelled"]}),
    "users": (User, lambda gym, n: UserFactory(gym=gym), {
        "first_name": ["Ann", "Bob"], "last_name": ["Lee", ""], "created_at": MOMENTS}),
    "branches": (Branch, lambda gym, n: BranchFactory(gym=gym), {
        "name": ["North", "South"], "city": ["Austin", ""], "created_at": MOMENTS}),
    "knowledge-base": (KnowledgeBaseEntry, lambda gym, n: KnowledgeBaseEntryFactory(gym=gym), {
        "title": ["Hours", "Prices"], "category": ["", "Prices"], "created_at": MOMENTS, "updated_at": MOMENTS}),
    "notifications": (Notification, lambda gym, n: NotificationFactory(
        appointment=AppointmentFactory(lead=lead(gym, n), staff=None)), {
        "send_at": MOMENTS, "sent_at": [*MOMENTS[:2], None], "created_at": MOMENTS}),
}
# Lists that cannot hold a page's worth of tied rows, and why.
TOO_SHORT_TO_PAGE = {
    "notification-templates": "one template per kind and channel: 8 rows at most, a unique ordering",
}


def viewset(url: str) -> Any:
    return next(view for prefix, view, _ in router.registry if prefix == url)


def orderings(url: str) -> list[str]:
    """Every ordering the list allows: each field both ways, and none (the list's default)."""
    return ["", *[f"{sign}{field}" for field in viewset(url).ordering_fields for sign in ("", "-")]]


def test_the_lists_here_are_every_list_of_the_api():
    listed = {prefix for prefix, view, _ in router.registry if hasattr(view, "list")}
    assert listed == set(LISTS) | set(TOO_SHORT_TO_PAGE)
    for url, (_, _, pools) in LISTS.items():
        # Every ordering column has a pool of values (with ties and NULLs), but the unique ones: users' email
        # addresses and tags' names, which the factories make unique.
        assert set(viewset(url).ordering_fields) - set(pools) <= {"email", "name"}, url


def make_rows(gym: Any, url: str, count: int, pick: Callable[[str, list[Any], int], Any]) -> list[str]:
    """`count` rows of the list in the gym, each ordering column set to pick(column, pool, row number)."""
    model, make, pools = LISTS[url]
    ids = []
    for n in range(count):
        row = make(gym, n)
        values = {column: pick(column, pool, n) for column, pool in pools.items()}
        if model is Appointment:
            values["end_time"] = values["scheduled_time"] + datetime.timedelta(hours=1)
        model._base_manager.filter(pk=row.pk).update(**values)
        ids.append(str(row.pk))
    return ids


def walk(api: Any, url: str) -> list[str]:
    """The ids of every row, following `next` links from `url` to the end."""
    ids, pages = [], 0
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.json()
        ids += [row["id"] for row in response.json()["results"]]
        url, pages = response.json()["next"], pages + 1
        assert pages < 200
    return ids


def walk_back(api: Any, url: str) -> list[str]:
    """From the last cursor page, the ids of every row following `previous` links, in list order."""
    last = url
    while True:
        response = api.get(last).json()
        if not response["next"]:
            break
        last = response["next"]
    ids, url = [], last
    while url:
        body = api.get(url).json()
        ids = [row["id"] for row in body["results"]] + ids
        url = body["previous"]
    return ids


def relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def check_every_row_once(api: Any, url: str, ordering: str, size: int, expected: set[str]) -> None:
    query = f"/api/v1/{url}/?page_size={size}" + (f"&ordering={ordering}" if ordering else "")
    numbered = walk(api, query)
    forward = walk(api, query + "&pagination=cursor")
    backward = walk_back(api, query + "&pagination=cursor")
    assert len(numbered) == len(set(numbered)) and set(numbered) == expected, ("numbered", url, ordering, size)
    assert forward == numbered, ("cursor forward", url, ordering, size)
    assert backward == numbered, ("cursor backward", url, ordering, size)


CASES = [(url, ordering) for url in LISTS for ordering in orderings(url)]


@pytest.mark.parametrize("url, ordering", CASES, ids=[f"{url}-{ordering or 'default'}" for url, ordering in CASES])
def test_every_ordering_pages_every_row_once_nulls_and_ties_included(api, gym, other_gym, url, ordering):
    # Nine rows: every value of every pool, repeated (ties), NULLs among them; two of gym B's between them.
    mine = make_rows(gym, url, 9, lambda column, pool, n: pool[n % len(pool)])
    make_rows(other_gym, url, 2, lambda column, pool, n: pool[0])
    if url == "users":
        mine.append(str(api.user.pk))  # the signed-in owner is one of the gym's staff

    check_every_row_once(api, url, ordering, 2, set(mine))


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_rows_any_ordering_any_page_size(api, gym, other_gym, data):
    url = data.draw(st.sampled_from(sorted(LISTS)), label="list")
    ordering = data.draw(st.sampled_from(orderings(url)), label="ordering")
    size = data.draw(st.integers(1, 6), label="page size")
    count = data.draw(st.integers(0, 10), label="rows")
    choices = data.draw(st.lists(st.integers(0, 5), min_size=count * 8, max_size=count * 8), label="values")
    with transaction.atomic():
        mine = make_rows(gym, url, count, lambda column, pool, n: pool[choices[n * 8 + list(
            LISTS[url][2]).index(column)] % len(pool)])
        make_rows(other_gym, url, 1, lambda column, pool, n: pool[0])
        if url == "users":
            mine.append(str(api.user.pk))
        check_every_row_once(api, url, ordering, size, set(mine))
        transaction.set_rollback(True)


def test_a_cursor_from_another_ordering_or_a_made_up_one_is_a_400(api, gym):
    make_rows(gym, "leads", 3, lambda column, pool, n: pool[n % len(pool)])
    first = api.get("/api/v1/leads/?pagination=cursor&page_size=1&ordering=first_name").json()
    cursor = parse_qs(urlsplit(first["next"]).query)["cursor"][0]

    elsewhere = api.get(f"/api/v1/leads/?pagination=cursor&page_size=1&ordering=-created_at&cursor={cursor}")
    made_up = api.get("/api/v1/leads/?pagination=cursor&cursor=bm90IGEgY3Vyc29y")
    numbered_too = api.get(f"/api/v1/leads/?cursor={cursor}&ordering=first_name&page=2")

    for response in (elsewhere, made_up, numbered_too):
        assert response.status_code == 400, response.json()
    assert "another ordering" in elsewhere.json()["errors"]["cursor"][0]


@pytest.mark.parametrize("size", [1, 25, 100])
def test_a_cursor_page_is_one_query_whatever_its_size(api, gym, size, django_assert_num_queries):
    make_rows(gym, "calls", 30, lambda column, pool, n: pool[n % len(pool)])
    first = api.get(f"/api/v1/calls/?pagination=cursor&page_size={size}&ordering=duration").json()
    assert first["results"]

    # The request's savepoint and its release (inside the test's transaction), the gym settings set to none
    # and back, the token's gym, then the token with its user, gym and role in the statement that sets the
    # gym with the application's proof of it: and the page, one query.
    with django_assert_num_queries(7):
        api.get(relative(first["next"]) if first["next"] else f"/api/v1/calls/?pagination=cursor&page_size={size}")


def test_numbered_pages_are_bounded(api, gym, settings):
    settings.API_MAX_PAGE_SIZE = 20
    make_rows(gym, "leads", 30, lambda column, pool, n: pool[n % len(pool)])

    body = api.get("/api/v1/leads/?page_size=1000").json()

    assert body["count"] == 30 and len(body["results"]) == 20
    assert api.get("/api/v1/leads/?page=99").status_code == 404


def test_a_long_list_counts_up_to_the_limit_and_says_so_and_its_links_stay_right(api, gym, other_gym, settings):
    settings.API_COUNT_LIMIT = 10
    mine = make_rows(gym, "leads", 23, lambda column, pool, n: pool[n % len(pool)])
    make_rows(other_gym, "leads", 5, lambda column, pool, n: pool[0])

    first = api.get("/api/v1/leads/?page_size=4").json()
    fifth = api.get("/api/v1/leads/?page_size=4&page=5").json()  # rows 17-20: counted past them, to row 21
    last = api.get("/api/v1/leads/?page_size=4&page=last").json()
    past = api.get("/api/v1/leads/?page_size=4&page=7")

    assert (first["count"], first["count_exact"], len(first["results"])) == (10, False, 4) and first["next"]
    assert (fifth["count"], fifth["count_exact"], len(fifth["results"])) == (20, False, 4) and fifth["next"]
    assert (last["count"], "count_exact" in last, len(last["results"]), last["next"]) == (23, False, 3, None)
    assert past.status_code == 404 and "6" in past.json()["detail"]
    assert set(walk(api, "/api/v1/leads/?page_size=4")) == set(mine)


def test_a_page_past_any_list_is_a_404_and_a_number_not_in_ascii_digits_a_400(api, gym):
    assert api.get("/api/v1/leads/?page=100000000000000000&page_size=100").status_code == 404
    for malformed in ("\u00b2", "\u0663", "1\u00b2"):  # isdigit() holds for these; int() does not take them all
        for name in ("page", "page_size"):
            response = api.get(f"/api/v1/leads/?{name}={malformed}")
            assert response.status_code == 400 and name in response.json()["errors"], (name, malformed)


def test_a_list_within_the_limit_counts_exactly(api, gym, settings):
    settings.API_COUNT_LIMIT = 10
    make_rows(gym, "leads", 10, lambda column, pool, n: pool[n % len(pool)])

    body = api.get("/api/v1/leads/?page_size=3").json()

    assert body["count"] == 10 and "count_exact" not in body


def test_a_first_page_that_is_not_full_is_the_whole_list_and_is_not_counted(api, gym):
    make_rows(gym, "leads", 7, lambda column, pool, n: pool[n % len(pool)])

    with CaptureQueriesContext(connection) as short:
        whole = api.get("/api/v1/leads/?page_size=10").json()
    with CaptureQueriesContext(connection) as full:
        first = api.get("/api/v1/leads/?page_size=7").json()

    assert (whole["count"], len(whole["results"]), whole["next"]) == (7, 7, None)
    assert not any("COUNT(" in query["sql"] for query in short)
    assert first["count"] == 7 and any("COUNT(" in query["sql"] for query in full)  # full: there may be more


def test_pages_after_the_first_read_their_ids_then_their_rows(api, gym, django_assert_num_queries):
    make_rows(gym, "leads", 12, lambda column, pool, n: pool[n % len(pool)])
    first = api.get("/api/v1/leads/?page_size=5").json()

    with CaptureQueriesContext(connection) as queries:
        second = api.get(relative(first["next"])).json()

    ids_query = next(query["sql"] for query in queries if "OFFSET 5" in query["sql"])
    assert ids_query.startswith('SELECT "leads_lead"."id" AS "id" FROM "leads_lead"')
    assert len(second["results"]) == 5 and {row["id"] for row in second["results"]}.isdisjoint(
        row["id"] for row in first["results"])


def test_cursor_pages_never_count(api, gym):
    make_rows(gym, "leads", 30, lambda column, pool, n: pool[n % len(pool)])
    url = "/api/v1/leads/?pagination=cursor&page_size=7"
    while url:
        with CaptureQueriesContext(connection) as queries:
            body = api.get(url).json()
        assert not any("COUNT(" in query["sql"].upper() for query in queries)
        assert "count" not in body
        url = body["next"]


def test_a_cursor_alone_is_cursor_mode(api, gym):
    make_rows(gym, "leads", 5, lambda column, pool, n: pool[n % len(pool)])
    first = api.get("/api/v1/leads/?pagination=cursor&ordering=last_interaction&page_size=2").json()
    cursor = parse_qs(urlsplit(first["next"]).query)["cursor"][0]

    second = api.get(f"/api/v1/leads/?ordering=last_interaction&page_size=2&cursor={cursor}").json()

    assert "count" not in second
    assert {row["id"] for row in second["results"]}.isdisjoint(row["id"] for row in first["results"])
    assert second["previous"]
