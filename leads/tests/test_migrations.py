"""The schema's migrations run backwards and forwards, and LeadV2 backfills old rows."""

import datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.models import Role
from leads.models import Lead
from leads.tests.factories import LeadFactory

BEFORE_LEAD_V2 = [("leads", "0001_initial"), ("calls", "0001_initial"), ("appointments", "0001_initial")]
LEAD_V2 = [("leads", "0002_lead_engagement")]


def migrate_to(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_lead_v2_migration_backfills_leads_created_before_it():
    old = migrate_to(BEFORE_LEAD_V2)
    now = timezone.now()
    gym = old.get_model("gyms", "Gym").objects.create(name="Old gym", timezone="UTC", country_code="US")
    OldLead = old.get_model("leads", "Lead")
    CallLog = old.get_model("calls", "CallLog")
    Appointment = old.get_model("appointments", "Appointment")

    def lead(n):
        return OldLead.objects.create(gym=gym, first_name=f"L{n}", last_name="X", phone=f"+121255501{n:02d}")

    lead(1)  # a lead with no history
    caller, busy = lead(2), lead(3)
    call_end = now - datetime.timedelta(days=2)
    CallLog.objects.create(
        gym=gym,
        lead=caller,
        status="completed",
        start_time=call_end - datetime.timedelta(minutes=5),
        end_time=call_end,
        duration=300,
    )
    CallLog.objects.create(gym=gym, lead=caller, status="no_answer", start_time=now - datetime.timedelta(days=3))
    # A call still to come is not an interaction.
    CallLog.objects.create(gym=gym, lead=caller, status="scheduled", start_time=now + datetime.timedelta(days=1))
    for n in range(12):
        CallLog.objects.create(
            gym=gym, lead=busy, status="completed", start_time=now - datetime.timedelta(days=9, hours=n)
        )
    booked = now - datetime.timedelta(days=1)
    Appointment.objects.create(
        gym=gym,
        lead=busy,
        title="Tour",
        scheduled_time=now,
        created_at=booked,
        end_time=now + datetime.timedelta(hours=1),
    )
    Appointment.objects.create(
        gym=gym,
        lead=caller,
        title="Tour",
        scheduled_time=now,
        status="cancelled",
        end_time=now + datetime.timedelta(hours=1),
        created_at=now - datetime.timedelta(days=5),
    )

    try:
        new = migrate_to(LEAD_V2)
        backfilled = {lead.first_name: lead for lead in new.get_model("leads", "Lead").objects.filter(gym_id=gym.pk)}
    finally:
        call_command("migrate", verbosity=0)  # back to the latest schema for the other tests
    assert (backfilled["L1"].engagement_score, backfilled["L1"].last_interaction) == (0, None)
    # one completed call; the cancelled appointment scores nothing but was an interaction
    assert backfilled["L2"].engagement_score == 10
    assert backfilled["L2"].last_interaction == call_end
    # twelve completed calls and an appointment: capped at 100
    assert backfilled["L3"].engagement_score == 100
    assert backfilled["L3"].last_interaction == booked


@pytest.mark.django_db(transaction=True)
def test_every_migration_reverses_to_zero_and_applies_again():
    call_command("migrate", "gyms", "zero", verbosity=0)

    tables = connection.introspection.table_names()
    assert not [t for t in tables if t.split("_")[0] in {"gyms", "accounts", "leads", "calls", "appointments"}]

    call_command("migrate", verbosity=0)

    assert set(Role.objects.values_list("name", flat=True)) == {"owner", "manager", "sales"}
    # The rebuilt schema takes rows, constraints included.
    lead = LeadFactory(phone="212 555 0100")
    assert Lead.objects.for_gym(lead.gym_id).get().phone == "+12125550100"
