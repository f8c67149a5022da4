"""The whole story: leads imported, calls queued and dispatched, the platform reporting back, a booking,
and the figures that the dashboard shows reflecting all of it.

The platform's reports are built with its own SDK's call type and signed with the SDK's own helper."""

import datetime

import pytest
from django.utils import timezone

from accounts.tests.factories import RoleFactory, UserFactory
from appointments.models import Appointment
from appointments.querysets import appointment_repository
from calls.models import CallLog
from calls.querysets import call_repository
from calls.services import dispatch_due_calls
from calls.tests.conftest import sdk_deliver, sdk_platform_call
from gyms.models import AISettings, Gym
from leads.models import Lead
from leads.querysets import lead_repository
from leads.tests.factories import LeadQualificationFactory
from reps.tenancy.database import gym_transaction

pytestmark = pytest.mark.django_db


def test_imported_leads_are_called_book_and_show_up_in_the_figures(
    api_client_for, gym, client, fake_platform, django_capture_on_commit_callbacks, settings
):
    settings.USE_CACHED_REPOSITORIES = True
    Gym.objects.filter(pk=gym.pk).update(phone="+12125550100")
    AISettings.objects.for_gym(gym).update(agent_id="agent_a")
    sales = UserFactory(gym=gym, role=RoleFactory(name="sales"))
    manager = api_client_for(UserFactory(gym=gym, role=RoleFactory(name="manager")))
    rival = LeadQualificationFactory(lead__gym=gym, score=60).lead  # ranks first before the story
    today = timezone.now().date()
    with gym_transaction(gym):
        stats = lead_repository(gym).conversion_stats(today - datetime.timedelta(days=1), today)
        assert lead_repository(gym).prioritized()[0] == rival  # cached now

    # 1. The gym imports its leads; two agreed to be called.
    csv = ("Name,Mobile,Consent\nJane Doe,212-555-0123,yes\nJohn Roe,212-555-0124,yes\nNo Consent,212-555-0125,\n")
    with django_capture_on_commit_callbacks(execute=True):
        imported = manager.post("/api/v1/leads/import/", {"file": _file(csv)}, format="multipart").json()
    assert imported["created"] == 3
    jane = Lead.objects.for_gym(gym).get(phone="+12125550123")

    # 2. Calls are queued within calling hours; the lead without consent is skipped.
    ids = [str(pk) for pk in Lead.objects.for_gym(gym).exclude(pk=rival.pk).values_list("pk", flat=True)]
    with django_capture_on_commit_callbacks(execute=True):
        queued = manager.post("/api/v1/calls/queue/", {"leads": ids}, format="json").json()
    assert len(queued["queued"]) == 2 and len(queued["skipped"]) == 1

    # 3. The dispatcher sends them to the (local, fake) voice platform when they are due.
    noon = timezone.localtime(timezone.now(), gym.tzinfo).replace(hour=12) + datetime.timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch_due_calls(now=noon)["sent"] == 2
    placed = {request["body"]["to_number"]: request["body"] for request in fake_platform.requests}
    jane_call_id = f"call_{list(placed).index(jane.phone) + 1}"
    metadata = placed[jane.phone]["metadata"]
    assert {body["idempotency_key"] for body in placed.values()} == {
        body["metadata"]["call_log_id"] for body in placed.values()}

    # 4. The platform reports back: the call ended, then its analysis with an agreed appointment.
    start = (timezone.now() + datetime.timedelta(days=3)).replace(hour=15, minute=0, second=0, microsecond=0)
    with django_capture_on_commit_callbacks(execute=True):
        ended = sdk_platform_call(jane_call_id, to_number=jane.phone, metadata=metadata)
        assert sdk_deliver(client, "call_ended", ended).status_code == 200
        analyzed = sdk_platform_call(jane_call_id, to_number=jane.phone, metadata=metadata, call_analysis={
            "call_summary": "Jane wants a tour on Thursday.", "user_sentiment": "Positive", "call_successful": True,
            "custom_analysis_data": {"appointment_time": start.isoformat()}})
        assert sdk_deliver(client, "call_analyzed", analyzed).status_code == 200

    call = CallLog.objects.for_gym(gym).get(retell_call_id=jane_call_id)
    assert (call.status, call.outcome, call.lead) == ("completed", "appointment_booked", jane)
    assert call.transcript.utterances[0] == {"role": "agent", "content": "Hi!"}
    appointment = Appointment.objects.for_gym(gym).get(lead=jane)
    assert (appointment.staff, appointment.scheduled_time, appointment.call) == (sales, start, call)
    jane.refresh_from_db()
    assert (jane.status, jane.engagement_score) == ("contacted", 35)

    # 4b. John asks the agent never to call again: he is not called again, whatever is queued.
    john = Lead.objects.for_gym(gym).get(phone="+12125550124")
    john_call_id = f"call_{list(placed).index(john.phone) + 1}"
    stop = sdk_platform_call(john_call_id, to_number=john.phone, metadata=placed[john.phone]["metadata"],
                             reason="user_requested_dnc")
    with django_capture_on_commit_callbacks(execute=True):
        assert sdk_deliver(client, "call_ended", stop).status_code == 200
        again = manager.post("/api/v1/calls/queue/", {"leads": [str(john.pk)]}, format="json").json()
    john.refresh_from_db()
    assert john.do_not_call and again["queued"] == [] and "asked not to be called" in again["skipped"][0]["reason"]

    # 5. The figures reflect it (the cached ones were invalidated along the way).
    with gym_transaction(gym):
        after = lead_repository(gym).conversion_stats(today - datetime.timedelta(days=1), today)
        assert after["contacted"] == stats["contacted"] + 2 and after["new"] == stats["new"] + 1
        metrics = call_repository(gym).metrics(today - datetime.timedelta(days=1), today)
        assert metrics["outcomes"]["appointment_booked"] == 1
        assert appointment_repository(gym).stats(start.date(), start.date() + datetime.timedelta(days=1))[
            "scheduled"] == 1
        dashboard = lead_repository(gym).dashboard()
        assert dashboard["lead_counts"]["contacted"] == 2
        # Jane now has a connected call; every open lead's rank is recomputed, not served stale.
        assert set(lead_repository(gym).prioritized()) == set(Lead.objects.for_gym(gym).filter(
            status__in=["new", "contacted", "qualified"]))


def _file(text):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("leads.csv", text.encode())
