import datetime
import zoneinfo

import pytest
from django.utils import timezone

from calls.models import CallLog
from calls.services import dispatch_due_calls, next_calling_time, queue_ai_calls
from calls.tests.factories import CallLogFactory, CampaignFactory
from gyms.models import AISettings, Gym, GymSettings
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


@pytest.fixture
def callable_lead(gym):
    Gym.objects.filter(pk=gym.pk).update(phone="+12125550100")
    AISettings.objects.for_gym(gym).update(agent_id="agent_gym_a")
    return LeadFactory(gym=gym, consent_given_at=timezone.now(), consent_source="web form")


def local(*args):
    return datetime.datetime(*args, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    "asked, expected",
    [(local(2026, 3, 2, 7, 0), local(2026, 3, 2, 9, 0)),  # before opening: at opening
     (local(2026, 3, 2, 12, 30), local(2026, 3, 2, 12, 30)),  # within the hours: then
     (local(2026, 3, 2, 20, 0), local(2026, 3, 3, 9, 0)),  # at closing: next morning
     (local(2026, 3, 7, 23, 0), local(2026, 3, 8, 9, 0))],  # across the DST change
)
def test_calls_are_placed_within_the_gyms_calling_hours_in_its_time_zone(gym, asked, expected):
    gym.refresh_from_db()
    assert next_calling_time(gym, GymSettings.objects.for_gym(gym).get(), asked) == expected


def test_queueing_skips_leads_that_may_not_be_called_and_says_why(gym, callable_lead):
    consent = {"consent_given_at": timezone.now()}
    no_consent = LeadFactory(gym=gym)
    opted_out = LeadFactory(gym=gym, do_not_call=True, **consent)
    converted = LeadFactory(gym=gym, status="converted", **consent)
    pending = LeadFactory(gym=gym, **consent)
    CallLogFactory(lead=pending, status="scheduled")
    exhausted = LeadFactory(gym=gym, **consent)
    for _ in range(3):
        CallLogFactory(lead=exhausted, status="no_answer")
    leads = [callable_lead, no_consent, opted_out, converted, pending, exhausted]

    report = queue_ai_calls(gym=gym, lead_ids=[lead.pk for lead in leads], at=local(2026, 3, 2, 22, 0))

    queued = CallLog.objects.for_gym(gym).get(pk=report["queued"][0])
    assert (queued.lead, queued.status, queued.is_ai_call) == (callable_lead, "scheduled", True)
    assert queued.start_time == local(2026, 3, 3, 9, 0)
    reasons = {item["lead"]: item["reason"] for item in report["skipped"]}
    assert reasons == {
        str(no_consent.pk): "The lead has not consented to calls.",
        str(opted_out.pk): "The lead asked not to be called.",
        str(converted.pk): "The lead is converted.",
        str(pending.pk): "A call to the lead is already queued or in progress.",
        str(exhausted.pk): "The lead has had the most AI calls allowed (3).",
    }


def test_queueing_a_campaign_calls_its_open_leads(gym, callable_lead):
    campaign = CampaignFactory(gym=gym)
    LeadFactory(gym=gym, status="lost", consent_given_at=timezone.now())

    report = queue_ai_calls(gym=gym, campaign_id=campaign.pk)

    assert [CallLog.objects.for_gym(gym).get(pk=pk).campaign for pk in report["queued"]] == [campaign]


def test_the_queue_endpoint(api, gym, other_gym, callable_lead):
    ok = api.post("/api/v1/calls/queue/", {"leads": [str(callable_lead.pk)]}, format="json")
    foreign = api.post("/api/v1/calls/queue/", {"leads": [str(LeadFactory(gym=other_gym).pk)]}, format="json")
    neither = api.post("/api/v1/calls/queue/", {}, format="json")

    assert ok.status_code == 201 and len(ok.json()["queued"]) == 1
    assert foreign.status_code == 400 and "leads" in foreign.json()["errors"]
    assert neither.status_code == 400


# --- dispatching ---------------------------------------------------------------------------------


def due_call(lead, **extra):
    return CallLogFactory(lead=lead, status="scheduled", start_time=timezone.now() - datetime.timedelta(minutes=1),
                          **extra)


def next_in_new_york(hour):
    """The next time it is `hour` o'clock in New York: after the calls due_call() makes are due, whenever the
    tests run (today's noon had passed for every test run after 17:00 UTC)."""
    now = datetime.datetime.now(NEW_YORK)
    moment = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return moment if moment > now else moment + datetime.timedelta(days=1)


def at_noon_in_new_york():
    return next_in_new_york(12)


def test_dispatch_sends_due_calls_to_the_platform(gym, callable_lead, fake_platform):
    call = due_call(callable_lead)

    counts = dispatch_due_calls(now=at_noon_in_new_york())

    assert counts["sent"] == 1
    sent = fake_platform.requests[0]
    assert sent["path"] == "/v2/create-phone-call"
    assert sent["headers"]["Authorization"] == "Bearer retell-test-key"
    assert sent["body"] == {
        "from_number": "+12125550100", "to_number": callable_lead.phone, "override_agent_id": "agent_gym_a",
        "honor_internal_dnc": True, "idempotency_key": str(call.pk),
        "metadata": {"gym_id": str(gym.pk), "lead_id": str(callable_lead.pk), "call_log_id": str(call.pk)},
        "agent_override": {"agent": {"language": "en-US", "voice_speed": 1.0, "max_call_duration_ms": 600_000}},
        "retell_llm_dynamic_variables": {"first_name": callable_lead.first_name, "gym_name": gym.name,
                                         "agent_name": "Alex", "instructions": "", "qualification_questions": ""},
    }
    call.refresh_from_db()
    assert call.retell_call_id == "call_1" and call.dispatched_at is not None
    assert dispatch_due_calls(now=at_noon_in_new_york())["sent"] == 0  # never sent twice


def test_dispatch_retries_when_the_platform_is_busy_but_not_when_it_refuses(gym, callable_lead, fake_platform,
                                                                             settings):
    settings.RETELL_RETRIES = 2
    busy, refused = due_call(callable_lead), due_call(LeadFactory(gym=gym, consent_given_at=timezone.now()))
    fake_platform.responses = [(503, {"error": "busy"}), (201, {"call_id": "call_ok"}), (400, {"error": "bad number"})]

    counts = dispatch_due_calls(now=at_noon_in_new_york())

    assert counts == {"sent": 1, "failed": 1, "rescheduled": 0, "cancelled": 0, "unconfirmed": 0}
    busy.refresh_from_db()
    refused.refresh_from_db()
    assert busy.retell_call_id == "call_ok"
    assert refused.status == "failed" and "400" in refused.notes
    assert len(fake_platform.requests) == 3


def test_dispatch_checks_consent_and_hours_at_the_last_moment(gym, callable_lead, fake_platform):
    withdrawn = due_call(LeadFactory(gym=gym, consent_given_at=timezone.now()))
    withdrawn.lead.do_not_call = True
    withdrawn.lead.save()
    late = due_call(callable_lead)
    night = next_in_new_york(23)

    counts = dispatch_due_calls(now=night)

    assert counts == {"sent": 0, "failed": 0, "rescheduled": 1, "cancelled": 1, "unconfirmed": 0}
    late.refresh_from_db()
    withdrawn.refresh_from_db()
    assert late.start_time == (night + datetime.timedelta(days=1)).replace(hour=9) and late.dispatched_at is None
    assert withdrawn.status == "failed" and "asked not to be called" in withdrawn.notes
    assert fake_platform.requests == []


def test_an_unreachable_platform_leaves_the_call_to_be_sent_again(gym, callable_lead, settings):
    settings.RETELL_API_BASE = "http://127.0.0.1:1"
    settings.RETELL_RETRIES = 1
    call = due_call(callable_lead)

    assert dispatch_due_calls(now=at_noon_in_new_york())["unconfirmed"] == 1
    call.refresh_from_db()
    assert call.status == "scheduled" and call.dispatched_at is not None and "unreachable" in call.notes
