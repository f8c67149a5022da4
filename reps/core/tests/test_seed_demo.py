import io

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from appointments.models import Appointment
from calls.models import CallLog, CallTranscript, Campaign
from gyms.models import Branch, Gym, KnowledgeBaseEntry
from leads.models import Lead, LeadQualification, LeadTagAssignment
from reps.core.management.commands.seed_demo import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    STAFF_PASSWORD,
)

pytestmark = pytest.mark.django_db

TENANT_MODELS = [
    Branch,
    KnowledgeBaseEntry,
    Lead,
    LeadQualification,
    LeadTagAssignment,
    Campaign,
    CallLog,
    CallTranscript,
    Appointment,
]


def seed():
    out = io.StringIO()
    call_command("seed_demo", leads=30, stdout=out)
    return out.getvalue()


def counts():
    return {model.__name__: model.objects.unscoped().count() for model in TENANT_MODELS} | {
        "users": User.objects.count(),
        "gyms": Gym.objects.count(),
    }


def test_seed_demo_fills_two_gyms_and_is_idempotent(client):
    output = seed()
    first = counts()
    again = seed()

    assert counts() == first
    assert "already there" in again
    assert first["gyms"] == 2
    for gym in Gym.objects.all():
        for model in TENANT_MODELS:
            assert model.objects.for_gym(gym).exists(), (gym, model.__name__)
        appointments = Appointment.objects.for_gym(gym)
        assert appointments.filter(scheduled_time__lt=timezone.now()).exists()
        assert appointments.filter(scheduled_time__gt=timezone.now()).exists()
        assert set(User.objects.for_gym(gym).values_list("role__name", flat=True)) == {"owner", "manager", "sales"}
    assert Lead.objects.unscoped().filter(engagement_score__gt=0).exists()

    # Every printed login works; the platform admin sees the demo data in the admin.
    for email in [ADMIN_EMAIL, "owner@ironpeak.test", "sales@northside.test"]:
        assert email in output
    assert client.post("/api-auth/login/", {"username": "owner@ironpeak.test", "password": STAFF_PASSWORD}
                       ).status_code == 302  # signed in, sent on to the API
    admin = Client()  # the platform admin signs in on a browser of their own
    assert admin.post("/admin/login/", {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).status_code == 302
    page = admin.get(reverse("admin:leads_lead_changelist"))
    assert page.status_code == 200
    assert page.context["cl"].result_count == first["Lead"] == 60


@pytest.mark.parametrize("command, arguments", [
    ("seed_demo", {}),
    ("dispatch_calls", {}),
    ("import_leads", {"gym": "00000000-0000-0000-0000-000000000001"}),
])
def test_commands_that_act_for_gyms_refuse_when_the_database_does_not_believe_their_proofs(
        command, arguments, settings, tmp_path):
    """SECRET_KEY changed since the last migrate: they would die on a row-level security error half-way."""
    from django.core.management import CommandError
    settings.SECRET_KEY = "another-" + "k" * 50
    positional = [str(tmp_path / "leads.csv")] if command == "import_leads" else []

    with pytest.raises(CommandError, match="run migrate with this SECRET_KEY"):
        call_command(command, *positional, **arguments, stdout=io.StringIO())

    assert Gym.objects.count() == 0
