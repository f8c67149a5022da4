"""The platform admin's lead pages, as platform staff use them: status moves the API allows, the API's search,
times on the gym's clock, a lead's page that fits the screen."""

import datetime
import re

import pytest
from django.contrib import admin
from django.forms import modelform_factory
from django.urls import reverse

from gyms.tests.factories import GymFactory
from leads.models import Lead
from leads.tests.factories import LeadFactory, LeadQualificationFactory
from notifications.tests.factories import NotificationFactory

pytestmark = pytest.mark.django_db

INLINES = ("qualification", "tag_assignments", "calls", "appointments")


def status_options(response):
    """The (value, label) options of the page's status select."""
    select = re.search(r'<select name="status"[^>]*>(.*?)</select>', response.content.decode(), re.S).group(1)
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select)


def change_lead(client, lead, **changes):
    data = {"gym": lead.gym_id, "first_name": lead.first_name, "last_name": lead.last_name, "phone": lead.phone,
            "email": lead.email, "status": lead.status, "engagement_score": lead.engagement_score, **changes}
    for prefix in INLINES:
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    return client.post(reverse("admin:leads_lead_change", args=[lead.pk]), data)


def test_a_converted_leads_page_offers_only_the_statuses_it_may_move_to(admin_client, gym):
    lead = LeadFactory(gym=gym, status="converted")

    response = admin_client.get(reverse("admin:leads_lead_change", args=[lead.pk]))

    assert status_options(response) == [("converted", "Converted"), ("lost", "Lost")]


def test_a_new_lead_can_only_be_added_as_new(admin_client):
    response = admin_client.get(reverse("admin:leads_lead_add"))

    assert status_options(response) == [("new", "New")]


def test_moving_a_converted_lead_back_to_new_is_refused_as_the_api_refuses_it(admin_client, api, gym):
    lead = LeadFactory(gym=gym, status="converted")
    api_refusal = api.post(f"/api/v1/leads/{lead.pk}/status/", {"status": "new"}, format="json")

    response = change_lead(admin_client, lead, status="new", first_name="Renamed")

    assert response.status_code == 200  # the form again, with its error
    assert response.context["adminform"].form.errors["status"] == api_refusal.json()["errors"]["status"]
    first_name = lead.first_name
    lead.refresh_from_db()
    assert (lead.status, lead.first_name) == ("converted", first_name)


def test_an_allowed_move_is_saved(admin_client, gym):
    lead = LeadFactory(gym=gym, status="converted")

    response = change_lead(admin_client, lead, status="lost")

    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.status == "lost"


def test_the_lists_editable_columns_follow_the_same_rules(rf, superuser, gym):
    """list_editable's forms are built on the admin's changelist form: they cannot skip the rules."""
    lead = LeadFactory(gym=gym, status="converted")
    request = rf.get("/")
    request.user = superuser
    model_admin = admin.site._registry[Lead]
    # What the changelist's formset makes of it (modelformset_factory, fields=list_editable).
    form_class = modelform_factory(Lead, form=model_admin.get_changelist_form(request), fields=["status"])

    refused = form_class({"status": "new"}, instance=lead)
    allowed = form_class({"status": "lost"}, instance=Lead.objects.unscoped().get(pk=lead.pk))

    assert "cannot change from converted to new" in refused.errors["status"][0]
    assert allowed.is_valid(), allowed.errors


def leads_found(client, term):
    response = client.get(reverse("admin:leads_lead_changelist"), {"q": term})
    assert response.status_code == 200
    return {lead.pk for lead in response.context["cl"].result_list}


def test_the_search_finds_a_phone_fragment_in_any_format_as_the_api_does(admin_client, gym, other_gym):
    wanted = LeadFactory(gym=gym, phone="+12125551299")
    LeadFactory(gym=gym, phone="+12125550100")
    elsewhere = LeadFactory(gym=other_gym, phone="+13125551299")  # platform staff see every gym

    for term in ("555-1299", "555 12 99", "5551299"):
        assert leads_found(admin_client, term) == {wanted.pk, elsewhere.pk}, term
    for term in ("(212) 555-1299", "+1 212-555-1299", "(212) 555-12"):
        assert leads_found(admin_client, term) == {wanted.pk}, term


def test_the_search_finds_every_word_in_a_name_or_email(admin_client, gym):
    jane = LeadFactory(gym=gym, first_name="Jane", last_name="Doe", email="jane@example.com")
    LeadFactory(gym=gym, first_name="Janet", last_name="Smith")

    assert leads_found(admin_client, "jane doe") == {jane.pk}
    assert leads_found(admin_client, "EXAMPLE.COM doe") == {jane.pk}


def test_the_list_shows_when_each_lead_came_on_its_gyms_clock(admin_client):
    new_york = GymFactory(timezone="America/New_York")
    tokyo = GymFactory(timezone="Asia/Tokyo")
    moment = datetime.datetime(2026, 1, 15, 3, 30, tzinfo=datetime.UTC)
    LeadFactory(gym=new_york, created_at=moment)
    LeadFactory(gym=tokyo, created_at=moment - datetime.timedelta(days=1))

    page = admin_client.get(reverse("admin:leads_lead_changelist")).content.decode()

    assert "2026-01-14 22:30 EST" in page  # the evening before, in New York
    assert "2026-01-14 12:30 JST" in page


def test_the_newest_leads_come_first(admin_client, gym):
    old = LeadFactory(gym=gym, created_at=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))
    new = LeadFactory(gym=gym)

    shown = list(admin_client.get(reverse("admin:leads_lead_changelist")).context["cl"].result_list)

    assert shown == [new, old]


def test_the_qualification_is_stacked_not_one_wide_table_row(admin_client, gym):
    qualification = LeadQualificationFactory(lead=LeadFactory(gym=gym), notes="Wants to lose 5 kg")

    response = admin_client.get(reverse("admin:leads_lead_change", args=[qualification.lead_id]))

    inline = next(inline for inline in response.context["inline_admin_formsets"]
                  if inline.formset.prefix == "qualification")
    assert inline.opts.template == "admin/edit_inline/stacked.html"
    # Its short fields share lines: four lines for its seven fields.
    assert len(list(next(iter(inline)).fieldsets[0][1]["fields"])) == 4
    assert "Wants to lose 5 kg" in response.content.decode()


def test_the_qualification_and_notification_lists_find_a_leads_phone_the_same_way(admin_client, gym):
    jane = LeadFactory(gym=gym, phone="+12125551299")
    other = LeadFactory(gym=gym, phone="+12125550100")
    for lead in (jane, other):
        LeadQualificationFactory(lead=lead)
        NotificationFactory(appointment__lead=lead, to="someone@example.com")

    for changelist in ("admin:leads_leadqualification_changelist", "admin:notifications_notification_changelist"):
        response = admin_client.get(reverse(changelist), {"q": "555-1299"})
        assert [row.lead_id for row in response.context["cl"].result_list] == [jane.pk], changelist
    # The notification's own column is searched too.
    response = admin_client.get(reverse("admin:notifications_notification_changelist"), {"q": "someone@"})
    assert len(response.context["cl"].result_list) == 2
