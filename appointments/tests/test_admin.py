"""The platform admin's appointment pages: the latest first, times on the gym's clock, the API's status rules
and lead search, calls named for people."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from appointments.tests.factories import AppointmentFactory
from calls.tests.factories import CallLogFactory
from gyms.tests.factories import GymFactory
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

MOMENT = datetime.datetime(2026, 1, 15, 3, 30, tzinfo=datetime.UTC)  # 22:30 the evening before in New York


@pytest.fixture
def jane():
    return LeadFactory(gym=GymFactory(timezone="America/New_York"), first_name="Jane", last_name="Doe",
                       phone="+12125551299")


def listed(client, **params):
    response = client.get(reverse("admin:appointments_appointment_changelist"), params)
    assert response.status_code == 200
    return response


def test_the_list_shows_the_upcoming_soonest_first_and_all_the_latest_first_on_each_gyms_clock(admin_client, jane):
    old = AppointmentFactory(lead=jane, staff=None,
                             scheduled_time=datetime.datetime(2020, 1, 6, 15, tzinfo=datetime.UTC))
    late = AppointmentFactory(lead=jane, staff=None, scheduled_time=MOMENT,
                              end_time=MOMENT + datetime.timedelta(hours=1))
    soon, later = (AppointmentFactory(lead=jane, staff=None, scheduled_time=timezone.now() + datetime.timedelta(days=days))
                   for days in (1, 9))

    assert list(listed(admin_client).context["cl"].result_list) == [soon, later]  # the work ahead
    assert list(listed(admin_client, when="past").context["cl"].result_list) == [late, old]
    response = listed(admin_client, when="all")
    assert list(response.context["cl"].result_list) == [later, soon, late, old]
    page = response.content.decode()
    assert "2026-01-14 22:30 EST" in page and "2026-01-14 23:30 EST" in page
    assert "2020-01-06 10:00 EST" in page


def test_the_list_finds_a_leads_phone_fragment_in_any_format(admin_client, jane):
    wanted = AppointmentFactory(lead=jane, staff=None, title="Tour")
    AppointmentFactory(lead=LeadFactory(gym=jane.gym, phone="+12125550100"), staff=None, title="Trial")

    for term in ("555-1299", "(212) 555-1299", "jane", "tour"):
        assert [row.pk for row in listed(admin_client, q=term).context["cl"].result_list] == [wanted.pk], term


def status_options(response):
    select = re.search(r'<select name="status"[^>]*>(.*?)</select>', response.content.decode(), re.S).group(1)
    return re.findall(r'<option value="([^"]*)"', select)


def change_appointment(client, appointment, status):
    local = {"scheduled_time": appointment.scheduled_time, "end_time": appointment.end_time}
    data = {"gym": appointment.gym_id, "lead": appointment.lead_id, "title": appointment.title, "status": status}
    for name, moment in local.items():  # the admin's fields take UTC (the site's zone)
        moment = moment.astimezone(datetime.UTC)
        data.update({f"{name}_0": f"{moment:%Y-%m-%d}", f"{name}_1": f"{moment:%H:%M:%S}"})
    return client.post(reverse("admin:appointments_appointment_change", args=[appointment.pk]), data)


def test_a_completed_appointment_cannot_be_scheduled_again(admin_client, jane):
    appointment = AppointmentFactory(lead=jane, staff=None, status="completed")

    assert status_options(admin_client.get(
        reverse("admin:appointments_appointment_change", args=[appointment.pk]))) == ["completed"]
    refused = change_appointment(admin_client, appointment, "scheduled")

    assert refused.status_code == 200
    assert "The appointment status cannot change from completed to scheduled" in (
        refused.context["adminform"].form.errors["status"][0])
    appointment.refresh_from_db()
    assert appointment.status == "completed"


def test_a_cancelled_appointment_may_be_reopened(admin_client, jane):
    appointment = AppointmentFactory(lead=jane, staff=None, status="cancelled")

    response = change_appointment(admin_client, appointment, "scheduled")

    assert response.status_code == 302, response.context["adminform"].form.errors
    appointment.refresh_from_db()
    assert appointment.status == "scheduled"


def test_the_appointments_call_is_named_for_its_lead(admin_client, jane):
    call = CallLogFactory(lead=jane, start_time=MOMENT, status="completed")
    appointment = AppointmentFactory(lead=jane, staff=None, call=call)
    name = "Call to Jane Doe at 2026-01-14 22:30 EST (Completed)"

    page = admin_client.get(reverse("admin:appointments_appointment_change", args=[appointment.pk]))
    found = admin_client.get(reverse("admin:autocomplete"), {
        "app_label": "appointments", "model_name": "appointment", "field_name": "call", "term": "555-1299"})

    assert f">{name}</option>" in page.content.decode()
    assert found.json()["results"] == [{"id": str(call.pk), "text": name}]
