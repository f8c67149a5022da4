"""Many requests at once: exactly one wins where only one may, and the others get clean answers."""

import datetime
import json
import threading

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.tests.factories import RoleFactory, UserFactory, api_token
from appointments.models import Appointment
from calls.models import CallLog, VoiceWebhookEvent
from calls.tests.conftest import KEY, WEBHOOK, platform_call
from calls.voice import sign
from gyms.models import Gym
from leads.models import Lead
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db(transaction=True)

PARALLEL = 20


def all_at_once(request):
    """Run request(n) in PARALLEL threads released together; their responses, in order."""
    start, responses = threading.Barrier(PARALLEL), [None] * PARALLEL

    def run(n):
        try:
            start.wait(timeout=30)
            responses[n] = request(n)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return responses


@pytest.fixture
def token(gym):
    user = UserFactory(gym=gym, role=RoleFactory(name="sales"))
    return api_token(user)


def post(token, url, body):
    return Client().post(url, json.dumps(body), content_type="application/json",
                         HTTP_AUTHORIZATION=f"Token {token}")


def test_twenty_bookings_of_one_slot_give_one_201_and_nineteen_409s(gym, token):
    staff = UserFactory(gym=gym)
    leads = [LeadFactory(gym=gym) for _ in range(PARALLEL)]
    start = (timezone.now() + datetime.timedelta(days=1)).replace(minute=0, second=0, microsecond=0)

    responses = all_at_once(lambda n: post(token, "/api/v1/appointments/", {
        "lead": str(leads[n].pk), "staff": str(staff.pk), "title": "Tour",
        "scheduled_time": (start + datetime.timedelta(minutes=n)).isoformat()}))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * (PARALLEL - 1)
    winner = Appointment.objects.unscoped().get()
    assert all(r.json()["conflicting_appointment"] in (str(winner.pk), None) for r in responses if r.status_code == 409)


def test_twenty_deliveries_of_one_webhook_event_give_one_call(gym, settings):
    settings.RETELL_API_KEY = KEY
    Gym.objects.filter(pk=gym.pk).update(phone="+12125550100")
    lead = LeadFactory(gym=gym, phone="+12125550123")
    body = json.dumps({"event": "call_ended", "call": platform_call(
        metadata={"gym_id": str(gym.pk), "lead_id": str(lead.pk)})}).encode()

    responses = all_at_once(lambda n: Client().post(WEBHOOK, body, content_type="application/json",
                                                    HTTP_X_RETELL_SIGNATURE=sign(body, KEY)))

    assert [response.status_code for response in responses] == [200] * PARALLEL
    assert sum(response.json()["applied"] for response in responses) == 1
    assert CallLog.objects.unscoped().count() == 1 and VoiceWebhookEvent.objects.count() == 1
    lead.refresh_from_db()
    assert lead.engagement_score == 10


def test_parallel_creation_of_one_phone_number_gives_one_lead_and_clean_400s(gym, token):
    responses = all_at_once(lambda n: post(token, "/api/v1/leads/", {
        "first_name": f"Twin{n}", "last_name": "Lee", "phone": "(212) 555-0142"}))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [400] * (PARALLEL - 1)
    for response in responses:
        if response.status_code == 400:
            assert response.json()["errors"] == {"phone": ["This gym already has a lead with this phone number."]}
    assert Lead.objects.for_gym(gym).count() == 1


@pytest.mark.django_db
def test_a_deadlock_between_bookings_is_a_409_not_a_500(api, gym, monkeypatch):
    import psycopg
    from django.db import OperationalError

    from appointments import views

    def deadlocked(**kwargs):
        try:
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        except psycopg.Error as error:
            raise OperationalError(str(error)) from error

    monkeypatch.setattr(views, "book_appointment", deadlocked)
    lead, staff = LeadFactory(gym=gym), UserFactory(gym=gym)

    response = api.post("/api/v1/appointments/", {"lead": str(lead.pk), "staff": str(staff.pk), "title": "Tour",
                                                  "scheduled_time": timezone.now().isoformat()}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "conflict" and "try again" in response.json()["detail"]
