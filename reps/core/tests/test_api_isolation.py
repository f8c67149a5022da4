"""Gym A's staff never see or touch gym B's rows, through any endpoint or method."""

import datetime
import json

import pytest
from django.apps import apps
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import RoleFactory, UserFactory
from appointments.tests.factories import AppointmentFactory
from calls.models import Campaign
from calls.tests.factories import CallLogFactory
from gyms.models import Branch, KnowledgeBaseEntry
from leads.models import LeadTag
from notifications.models import NotificationTemplate
from reps.core.models import TenantModel
from reps.tenancy.database import gym_scope

TENANT_MODELS = [model for model in apps.get_models() if issubclass(model, TenantModel)]

pytestmark = pytest.mark.django_db

# basename, and how to find one of the gym's rows of it
RESOURCES = {
    "branch": lambda gym, lead: Branch.objects.for_gym(gym).first(),
    "knowledge-base": lambda gym, lead: KnowledgeBaseEntry.objects.for_gym(gym).first(),
    "user": lambda gym, lead: UserFactory(gym=gym),
    "lead": lambda gym, lead: lead,
    "tag": lambda gym, lead: LeadTag.objects.for_gym(gym).first(),
    "call": lambda gym, lead: lead.calls.first(),
    "campaign": lambda gym, lead: Campaign.objects.for_gym(gym).first(),
    "appointment": lambda gym, lead: lead.appointments.first(),
    "notification-template": lambda gym, lead: NotificationTemplate.objects.for_gym(gym).first(),
}
DETAIL_ACTIONS = {"call": ["status"], "appointment": ["status"]}
BODY = {"status": "cancelled", "name": "x", "title": "x", "first_name": "x", "content": "x"}


@pytest.fixture
def gym_b_rows(other_gym, add_one_of_everything):
    lead = add_one_of_everything(other_gym)
    with gym_scope(other_gym):
        return {basename: find(other_gym, lead) for basename, find in RESOURCES.items()}


def detail_requests(basename, pk):
    url = reverse(f"v1:{basename}-detail", args=[pk])
    yield "get", url
    for method in ("put", "patch", "delete"):
        yield method, url
    for action in DETAIL_ACTIONS.get(basename, []):
        yield "post", reverse(f"v1:{basename}-{action}", args=[pk])


@pytest.mark.parametrize("basename", RESOURCES)
def test_another_gyms_object_is_404_for_every_method(api, gym_b_rows, basename):
    target = gym_b_rows[basename]
    before = snapshot(target)

    for method, url in detail_requests(basename, target.pk):
        response = api.get(url) if method == "get" else getattr(api, method)(url, BODY, format="json")
        assert response.status_code == 404, (method, url, response.status_code, response.content[:200])
        assert response.json()["code"] == "not_found"
    target.refresh_from_db()  # still there, unchanged
    assert snapshot(target) == before


def snapshot(row):
    with gym_scope(row.gym_id):
        return model_to_dict(row)


@pytest.mark.parametrize("basename", ["branch", "knowledge-base", "user", "campaign", "notification-template"])
def test_a_role_that_may_not_write_gets_403_whatever_the_object(api_client_for, gym, gym_b_rows, basename):
    sales = api_client_for(UserFactory(gym=gym, role=RoleFactory(name="sales")))

    for method, url in detail_requests(basename, gym_b_rows[basename].pk):
        if method != "get":
            assert getattr(sales, method)(url, BODY, format="json").status_code == 403, (method, url)


LIST_URLS = [
    "/api/v1/branches/", "/api/v1/knowledge-base/", "/api/v1/users/", "/api/v1/leads/", "/api/v1/tags/",
    "/api/v1/calls/", "/api/v1/campaigns/", "/api/v1/appointments/",
    "/api/v1/leads/prioritized/", "/api/v1/calls/upcoming/", "/api/v1/appointments/upcoming/",
    "/api/v1/leads/?search=555", "/api/v1/leads/?search=a", "/api/v1/knowledge-base/?search=membership",
    "/api/v1/leads/?pagination=cursor", "/api/v1/leads/dashboard/", "/api/v1/gym/",
    "/api/v1/notifications/", "/api/v1/notification-templates/", "/api/v1/leads/imports/",
]


@pytest.mark.parametrize("url", LIST_URLS)
def test_no_list_action_or_search_ever_shows_another_gyms_rows(api, gym, other_gym, add_one_of_everything, url):
    mine = add_one_of_everything(gym)
    theirs = add_one_of_everything(other_gym)
    # Rows both gyms have, scheduled ahead so the upcoming lists are not empty.
    soon = timezone.now() + datetime.timedelta(hours=2)
    for lead in (mine, theirs):
        CallLogFactory(lead=lead, status="scheduled", start_time=soon)
        AppointmentFactory(lead=lead, scheduled_time=soon)

    response = api.get(url)

    assert response.status_code == 200, response.content[:300]
    text = json.dumps(response.json())
    their_ids = {str(other_gym.pk)} | {str(pk) for pk in User.objects.for_gym(other_gym).values_list("pk", flat=True)}
    for model in TENANT_MODELS:
        their_ids |= {str(pk) for pk in model.objects.unscoped().filter(gym=other_gym).values_list("pk", flat=True)}
    assert len(their_ids) > 10
    assert [pk for pk in their_ids if pk in text] == []
