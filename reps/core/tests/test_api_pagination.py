import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def thirty_leads(gym, other_gym):
    for _ in range(30):
        LeadFactory(gym=gym)
    LeadFactory(gym=other_gym)


def test_numbered_pages_are_bounded(api, thirty_leads, settings):
    settings.API_MAX_PAGE_SIZE = 20

    body = api.get("/api/v1/leads/?page_size=1000").json()

    assert body["count"] == 30 and len(body["results"]) == 20
    assert api.get("/api/v1/leads/?page=99").status_code == 404


def test_cursor_pages_walk_every_row_once_without_counting(api, thirty_leads, gym):
    seen, url = [], "/api/v1/leads/?pagination=cursor&page_size=7"
    while url:
        with CaptureQueriesContext(connection) as queries:
            body = api.get(url).json()
        assert not any("COUNT(" in query["sql"].upper() for query in queries)
        assert "count" not in body
        seen += [row["id"] for row in body["results"]]
        url = body["next"]

    assert len(seen) == len(set(seen)) == 30


def test_cursor_pages_respect_the_requested_ordering(api, thirty_leads):
    body = api.get("/api/v1/leads/?pagination=cursor&ordering=first_name&page_size=30").json()

    names = [row["first_name"] for row in body["results"]]
    assert names == sorted(names)


def test_a_tampered_cursor_is_a_clean_error(api, thirty_leads):
    response = api.get("/api/v1/leads/?cursor=garbage")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
