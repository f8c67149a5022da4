"""What the browser tests do and make (their fixtures are in conftest.py)."""

import datetime

from django.utils import timezone

from accounts.tests.factories import PASSWORD, RoleFactory, UserFactory
from appointments.tests.factories import AppointmentFactory
from calls.tests.factories import CallTranscriptFactory
from gyms.models import AISettings
from gyms.tests.factories import GymFactory
from leads.tests.factories import LeadFactory
from reps.tenancy.state import all_gyms


def sign_in(page, user):
    page.goto("/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/workspace/")


def a_working_gym(name, phone_suffix):
    """A gym with a sales person, a lead with consent and a call with its conversation, and a booking."""
    gym = GymFactory(name=name, phone=f"+1212555{phone_suffix}")
    with all_gyms():
        AISettings.objects.filter(gym=gym).update(is_enabled=True)
    return gym


def people(gym, prefix):
    sales = UserFactory(gym=gym, role=RoleFactory(name="sales"), email=f"sales@{prefix}.test", first_name="Sal")
    manager = UserFactory(gym=gym, role=RoleFactory(name="manager"), email=f"manager@{prefix}.test")
    owner = UserFactory(gym=gym, role=RoleFactory(name="owner"), email=f"owner@{prefix}.test")
    lead = LeadFactory(gym=gym, first_name=f"{prefix.title()}lead", last_name="Searched",
                       phone=f"+1646555{1299 if prefix == 'alpha' else 1300}", consent_given_at=timezone.now(),
                       consent_source="web form")
    transcript = CallTranscriptFactory(call__lead=lead, call__start_time=timezone.now() - datetime.timedelta(hours=3),
                                       call__status="completed", call__outcome="appointment_booked",
                                       call__summary="Booked a tour.",
                                       utterances=[{"role": "agent", "content": f"Hi {lead.first_name}, it's Alex."},
                                                   {"role": "user", "content": "Friday at ten works for me."}])
    AppointmentFactory(lead=lead, staff=sales, call=transcript.call, title="Gym tour",
                       scheduled_time=timezone.now() + datetime.timedelta(days=1))
    for _ in range(3):
        LeadFactory(gym=gym, last_name=f"{prefix.title()}family")
    return {"sales": sales, "manager": manager, "owner": owner, "lead": lead, "call": transcript.call}
