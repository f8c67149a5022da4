"""The admin: platform staff see every gym's rows, lists run a fixed number of queries."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.tests.factories import UserFactory
from gyms.models import AISettings, Gym, GymSettings, VoiceSettings
from leads.models import LeadTagAssignment
from leads.tests.factories import LeadTagFactory
from reps.core.models import TenantModel

pytestmark = pytest.mark.django_db

MODELS = sorted(admin.site._registry, key=lambda model: model._meta.label)


def test_every_model_of_ours_has_an_admin():
    ours = {"core", "gyms", "accounts", "leads", "calls", "appointments"}
    # Unmanaged models are read-only windows (the search view), not data to administer.
    models = [model for model in apps.get_models() if model._meta.app_label in ours and model._meta.managed]

    assert [model._meta.label for model in models if model not in admin.site._registry] == []


def changelist(model):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def queries_to_render(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_every_admin_list_shows_all_gyms_in_a_fixed_number_of_queries(
    admin_client, gym, other_gym, add_one_of_everything, model
):
    add_one_of_everything(gym)
    few = queries_to_render(admin_client, changelist(model))
    for _ in range(3):
        add_one_of_everything(gym)
        add_one_of_everything(other_gym)

    many = queries_to_render(admin_client, changelist(model))

    assert many == few, f"{model._meta.label}: {few} queries with few rows, {many} with many"
    if issubclass(model, TenantModel):
        shown = admin_client.get(changelist(model)).context["cl"].result_list
        assert {row.gym_id for row in shown} >= {gym.pk, other_gym.pk}


def test_lead_page_shows_its_qualification_tags_calls_and_appointments(admin_client, gym, add_one_of_everything):
    lead = add_one_of_everything(gym)

    response = admin_client.get(reverse("admin:leads_lead_change", args=[lead.pk]))

    assert response.status_code == 200
    formsets = {formset.formset.prefix: formset.formset for formset in response.context["inline_admin_formsets"]}
    assert formsets["qualification"].initial_form_count() == 1
    assert formsets["tag_assignments"].initial_form_count() == 1
    assert formsets["calls"].initial_form_count() == 1
    assert formsets["appointments"].initial_form_count() == 1


def test_a_tag_added_on_the_lead_page_takes_the_leads_gym(admin_client, gym, other_gym):
    from leads.tests.factories import LeadFactory

    lead = LeadFactory(gym=gym)
    tag = LeadTagFactory(gym=gym)
    foreign_tag = LeadTagFactory(gym=other_gym)
    url = reverse("admin:leads_lead_change", args=[lead.pk])

    def post(tag_id):
        data = {
            "gym": gym.pk,
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "phone": lead.phone,
            "email": lead.email,
            "status": "new",
            "engagement_score": 0,
            "tag_assignments-TOTAL_FORMS": 1,
            "tag_assignments-INITIAL_FORMS": 0,
            "tag_assignments-0-tag": tag_id,
            "tag_assignments-0-lead": lead.pk,
        }
        for prefix in ("qualification", "calls", "appointments"):
            data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
        return admin_client.post(url, data)

    refused = post(foreign_tag.pk)
    assert refused.status_code == 200
    assert "This lead tag belongs to another gym." in refused.content.decode()

    assert post(tag.pk).status_code == 302
    assignment = LeadTagAssignment.objects.unscoped().get(lead=lead)
    assert (assignment.tag, assignment.gym_id) == (tag, gym.pk)


def test_a_gym_added_in_the_admin_gets_its_settings(admin_client):
    data = {"name": "New gym", "timezone": "Europe/Paris", "country_code": "FR", "is_active": "on"}
    for prefix in ("settings", "ai_settings", "voice_settings"):
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})

    response = admin_client.post(reverse("admin:gyms_gym_add"), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    gym = Gym.objects.get(name="New gym")
    for model in (GymSettings, AISettings, VoiceSettings):
        assert model.objects.for_gym(gym).count() == 1


def test_gym_staff_cannot_open_the_admin(client, gym):
    client.force_login(UserFactory(gym=gym))

    response = client.get(changelist(Gym))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
