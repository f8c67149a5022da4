"""The seed's four "Common Repository Issues" (its section 16), each shown absent here."""

import datetime

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.tests.factories import UserFactory
from appointments.models import Appointment
from appointments.services import AppointmentConflict, book_appointment
from calls.tests.factories import CallLogFactory
from leads.models import Lead
from leads.tests.factories import LeadFactory
from reps.tenancy.state import ScopeError

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("count", [1, 30])
def test_1_no_n_plus_1_when_reading_each_leads_calls(gym, count, django_assert_num_queries):
    for _ in range(count):
        lead = LeadFactory(gym=gym)
        CallLogFactory(lead=lead)
        CallLogFactory(lead=lead)

    with django_assert_num_queries(4):  # leads (+qualification, branch), tags, calls, appointments
        call_counts = [len(lead.calls.all()) for lead in Lead.objects.for_gym(gym).with_relationships()]

    assert call_counts == [2] * count


def test_2_a_failed_step_does_not_leak_out_of_its_transaction(gym):
    staff = UserFactory(gym=gym)
    start = timezone.now().replace(microsecond=0) + datetime.timedelta(days=1)
    leads = [LeadFactory(gym=gym) for _ in range(3)]

    # Processing leads in one transaction: a refused booking (the database
    # raised inside the service) leaves the outer transaction usable...
    with transaction.atomic():
        book_appointment(gym=gym, lead=leads[0], staff=staff, scheduled_time=start, title="Tour")
        with pytest.raises(AppointmentConflict):
            book_appointment(gym=gym, lead=leads[1], staff=staff, scheduled_time=start, title="Tour")
        book_appointment(
            gym=gym, lead=leads[2], staff=staff, scheduled_time=start + datetime.timedelta(hours=1), title="Tour"
        )
    assert Appointment.objects.for_gym(gym).count() == 2

    # ... and an error after nested service calls rolls all of them back.
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            for n, lead in enumerate(leads):
                book_appointment(
                    gym=gym,
                    lead=lead,
                    staff=staff,
                    title="Trial",
                    scheduled_time=start + datetime.timedelta(days=1, hours=n),
                )
            raise RuntimeError("the batch failed")
    assert Appointment.objects.for_gym(gym).count() == 2


def test_3_no_query_without_its_gym(gym, other_gym):
    LeadFactory(gym=other_gym, phone="+12125550100")

    # The seed's leaky get_lead_by_phone is refused outright...
    with pytest.raises(ScopeError):
        Lead.objects.filter(phone="+12125550100").first()
    # ... and the scoped one finds nothing of the other gym.
    assert Lead.objects.for_gym(gym).find_by_phone("+12125550100") is None


def test_4_several_statuses_in_one_query(gym, django_assert_num_queries):
    for status in ("new", "contacted", "lost", "converted"):
        LeadFactory(gym=gym, status=status)

    with django_assert_num_queries(1):
        found = list(Lead.objects.for_gym(gym).list(filters={"status": ["new", "contacted", "lost"]}))

    assert sorted(lead.status for lead in found) == ["contacted", "lost", "new"]
