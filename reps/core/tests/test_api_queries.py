"""Every list endpoint runs the same number of queries for a page of 5 rows and a page of 50."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import UserFactory
from appointments.tests.factories import AppointmentFactory
from calls.tests.factories import CallLogFactory
from leads.tests.factories import LeadTagAssignmentFactory

pytestmark = pytest.mark.django_db

LISTS = [
    "/api/v1/branches/", "/api/v1/knowledge-base/", "/api/v1/users/", "/api/v1/leads/", "/api/v1/tags/",
    "/api/v1/calls/", "/api/v1/campaigns/", "/api/v1/appointments/", "/api/v1/leads/?search=a",
    "/api/v1/leads/?pagination=cursor", "/api/v1/calls/?pagination=cursor", "/api/v1/notifications/",
    "/api/v1/leads/imports/",
]
ACTIONS = ["/api/v1/leads/prioritized/", "/api/v1/calls/upcoming/", "/api/v1/appointments/upcoming/"]


@pytest.fixture
def sixty_of_everything(gym, add_one_of_everything):
    soon = timezone.now() + datetime.timedelta(hours=1)
    for n in range(60):
        lead = add_one_of_everything(gym)
        LeadTagAssignmentFactory(lead=lead)
        CallLogFactory(lead=lead, status="scheduled", start_time=soon + datetime.timedelta(minutes=n))
        AppointmentFactory(lead=lead, scheduled_time=soon + datetime.timedelta(days=1, hours=n))
        UserFactory(gym=gym)


def queries(api, url):
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    assert response.status_code == 200, response.content[:300]
    return len(captured), response.json()


def with_param(url, **params):
    separator = "&" if "?" in url else "?"
    return url + separator + "&".join(f"{key}={value}" for key, value in params.items())


@pytest.mark.parametrize("url", LISTS)
def test_list_queries_do_not_grow_with_the_page_size(api, sixty_of_everything, url):
    few, small = queries(api, with_param(url, page_size=5))
    many, large = queries(api, with_param(url, page_size=50))

    assert len(small["results"]) == 5 and len(large["results"]) == 50
    assert many == few, f"{url}: {few} queries for 5 rows, {many} for 50"


@pytest.mark.parametrize("url", ACTIONS)
def test_action_queries_do_not_grow_with_the_limit(api, sixty_of_everything, url):
    few, small = queries(api, with_param(url, limit=5))
    many, large = queries(api, with_param(url, limit=50))

    assert (len(small), len(large)) == (5, 50)
    assert many == few, f"{url}: {few} queries for 5 rows, {many} for 50"


def test_lead_and_call_details_run_a_fixed_number_of_queries(api, gym, add_one_of_everything):
    lead = add_one_of_everything(gym)
    few, _ = queries(api, f"/api/v1/leads/{lead.pk}/")
    for _ in range(10):
        CallLogFactory(lead=lead)
        AppointmentFactory(lead=lead)
        LeadTagAssignmentFactory(lead=lead)

    many, body = queries(api, f"/api/v1/leads/{lead.pk}/")

    assert many == few
    assert len(body["recent_calls"]) == 5 and len(body["appointments"]) == 11 and len(body["tag_details"]) == 11
    call = lead.calls.model.objects.for_gym(gym).filter(transcript__isnull=False).first()
    detail_queries, call_body = queries(api, f"/api/v1/calls/{call.pk}/")
    assert call_body["transcript"]["content"]
    assert detail_queries <= few
