import datetime
import time

import pytest
from django.utils import timezone

from accounts.tests.factories import RoleFactory, UserFactory
from appointments.models import Appointment
from appointments.tests.factories import AppointmentFactory
from calls.models import CallLog, VoiceWebhookEvent
from calls.tests.conftest import KEY, platform_call
from calls.voice import sign
from gyms.models import Gym, VoiceSettings
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(gym):
    Gym.objects.filter(pk=gym.pk).update(phone="+12125550100")
    return LeadFactory(gym=gym, phone="+12125550123", status="new")


def ours(lead, **extra):
    """A call we placed: its metadata names our gym and lead."""
    return platform_call(metadata={"gym_id": str(lead.gym_id), "lead_id": str(lead.pk)}, **extra)


# --- signatures --------------------------------------------------------------------------------


def test_a_signed_event_is_accepted(deliver, lead):
    response = deliver({"event": "call_ended", "call": ours(lead)})

    assert response.status_code == 200
    assert response.json() == {"received": True, "applied": True, "status": "processed"}


@pytest.mark.parametrize(
    "how",
    ["unsigned", "wrong key", "stale", "from the future", "malformed", "tampered body", "garbage digest"],
)
def test_unsigned_badly_signed_or_stale_requests_are_401_and_write_nothing(deliver, lead, how):
    payload = {"event": "call_ended", "call": ours(lead)}
    now_ms = int(time.time() * 1000)
    kwargs = {
        "unsigned": {"signature": False},
        "wrong key": {"key": "someone-else"},
        "stale": {"timestamp_ms": now_ms - 6 * 60 * 1000},
        "from the future": {"timestamp_ms": now_ms + 6 * 60 * 1000},
        "malformed": {"signature": "sha256=abc"},
        "tampered body": {"signature": sign(b'{"event": "call_ended"}', KEY)},
        "garbage digest": {"signature": f"v={now_ms},d=00ff"},
    }[how]

    response = deliver(payload, **kwargs)

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert not VoiceWebhookEvent.objects.exists()
    assert not CallLog.objects.unscoped().exists()


def test_a_gym_with_its_own_key_is_verified_with_it(deliver, lead):
    VoiceSettings.objects.unscoped().filter(gym_id=lead.gym_id).update(platform_api_key="gym-own-key")

    assert deliver({"event": "call_ended", "call": ours(lead)}, key="gym-own-key").status_code == 200
    assert deliver({"event": "call_ended", "call": ours(lead, call_id="call_2")}, key="nope").status_code == 401


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"event": "", "call": {"call_id": "x"}}',
                                  b'{"event": "call_ended", "call": {}}',
                                  # PostgreSQL cannot store a NUL character, in the call id or anywhere else.
                                  b'{"event": "call_ended", "call": {"call_id": "a\\u0000b"}}',
                                  b'{"event": "call_ended", "call": {"call_id": "x", "transcript": "\\u0000"}}'])
def test_malformed_events_are_400(deliver, lead, body):
    assert deliver(None, body=body).status_code in (400,)


# --- applying events ----------------------------------------------------------------------------------


def test_an_ended_call_is_stored_with_its_transcript_and_the_lead_is_contacted(deliver, lead):
    deliver({"event": "call_ended", "call": ours(lead)})

    call = CallLog.objects.for_gym(lead.gym_id).get()
    assert (call.retell_call_id, call.status, call.duration, call.is_ai_call) == ("call_1", "completed", 90, True)
    assert call.recording_url.endswith("call_1.wav") and call.start_time < call.end_time
    assert call.transcript.utterances == [{"role": "agent", "content": "Hi!"}, {"role": "user", "content": "Hello."}]
    lead.refresh_from_db()
    assert (lead.status, lead.engagement_score, lead.last_interaction) == ("contacted", 10, call.end_time)


def test_the_same_event_twice_is_applied_once(deliver, lead):
    payload = {"event": "call_ended", "call": ours(lead)}

    first, second = deliver(payload), deliver(payload)

    assert first.json()["applied"] and not second.json()["applied"]
    assert CallLog.objects.for_gym(lead.gym_id).count() == 1
    lead.refresh_from_db()
    assert lead.engagement_score == 10


def test_events_out_of_order_leave_one_correct_call(deliver, lead):
    analyzed = ours(lead, call_analysis={"call_summary": "Wants a tour.", "user_sentiment": "Positive",
                                         "call_successful": True, "in_voicemail": False,
                                         "custom_analysis_data": {"follow_up": True}})
    deliver({"event_type": "call_analyzed", "call": analyzed})
    deliver({"event": "call_ended", "call": ours(lead)})
    deliver({"event": "call_started", "call": ours(lead, call_status="ongoing", end_timestamp=None,
                                                   duration_ms=None, transcript="")})

    call = CallLog.objects.for_gym(lead.gym_id).get()
    assert call.status == "completed"  # a late call_started does not move it back
    assert (call.summary, call.sentiment, call.outcome) == ("Wants a tour.", "Positive", "follow_up_needed")
    assert call.transcript.content.startswith("Agent: Hi!")
    lead.refresh_from_db()
    assert lead.engagement_score == 10  # contacted once, whatever the order
    assert VoiceWebhookEvent.objects.count() == 3


def test_an_unknown_call_is_kept_for_review(deliver, lead):
    stranger = platform_call(call_id="call_x", from_number="+14155550000", to_number="+14155550001")

    response = deliver({"event": "call_ended", "call": stranger})

    assert response.status_code == 200 and response.json()["status"] == "unmatched"
    event = VoiceWebhookEvent.objects.get()
    assert event.status == "unmatched" and event.payload["call"]["call_id"] == "call_x"
    assert not CallLog.objects.unscoped().exists()


def test_a_call_without_metadata_is_matched_by_the_gyms_and_the_leads_numbers(deliver, lead):
    deliver({"event": "call_ended", "call": platform_call(call_id="call_inbound", direction="inbound",
                                                          from_number="(212) 555-0123", to_number="+12125550100")})

    assert CallLog.objects.for_gym(lead.gym_id).get().lead == lead


def test_another_gyms_metadata_cannot_attach_a_call_to_its_lead(deliver, lead, other_gym):
    theirs = LeadFactory(gym=other_gym)
    forged = platform_call(metadata={"gym_id": str(lead.gym_id), "lead_id": str(theirs.pk)})

    deliver({"event": "call_ended", "call": forged})

    call = CallLog.objects.unscoped().get()
    assert call.gym_id == lead.gym_id and call.lead == lead  # matched by our numbers, not by the foreign lead
    assert not CallLog.objects.unscoped().filter(lead=theirs).exists()


@pytest.mark.parametrize(
    "status, reason, analysis, expected_status, expected_outcome",
    [
        ("not_connected", "dial_no_answer", None, "no_answer", "no_answer"),
        ("ended", "voicemail_reached", {"in_voicemail": True}, "no_answer", "voicemail"),
        ("error", "error_unknown", None, "failed", ""),
        ("ended", "user_hangup", {"custom_analysis_data": {"wrong_number": True}}, "completed", "wrong_number"),
        ("ended", "user_hangup", {"custom_analysis_data": {"not_interested": True}}, "completed", "not_interested"),
    ],
)
def test_outcomes(deliver, lead, status, reason, analysis, expected_status, expected_outcome):
    call = ours(lead, call_status=status, disconnection_reason=reason)
    if analysis is not None:
        call["call_analysis"] = analysis

    deliver({"event": "call_analyzed" if analysis else "call_ended", "call": call})

    stored = CallLog.objects.for_gym(lead.gym_id).get(retell_call_id=call["call_id"])
    assert (stored.status, stored.outcome) == (expected_status, expected_outcome)


def test_an_opt_out_stops_further_calls(deliver, lead):
    deliver({"event": "call_analyzed", "call": ours(lead, call_analysis={
        "custom_analysis_data": {"opted_out": True}})})

    lead.refresh_from_db()
    assert lead.do_not_call
    assert CallLog.objects.for_gym(lead.gym_id).get().outcome == "not_interested"


def _agreed(lead, start):
    return {"event": "call_analyzed", "call": ours(lead, call_analysis={
        "call_successful": True, "custom_analysis_data": {"appointment_time": start.isoformat()}})}


def test_an_agreed_appointment_is_booked_once_with_a_free_sales_person(deliver, lead):
    busy = UserFactory(gym=lead.gym, role=RoleFactory(name="sales"), email="a-busy@example.com")
    free = UserFactory(gym=lead.gym, role=RoleFactory(name="sales"), email="b-free@example.com")
    start = (timezone.now() + datetime.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    AppointmentFactory(lead__gym=lead.gym, staff=busy, scheduled_time=start)

    deliver(_agreed(lead, start))
    deliver(_agreed(lead, start))  # a repeat books nothing more

    booked = Appointment.objects.for_gym(lead.gym_id).get(lead=lead)
    call = CallLog.objects.for_gym(lead.gym_id).get()
    assert (booked.staff, booked.scheduled_time, booked.call) == (free, start, call)
    assert call.outcome == "appointment_booked"
    lead.refresh_from_db()
    assert (lead.status, lead.engagement_score) == ("contacted", 10 + 25)  # a connected call and a booking


def test_an_agreed_time_nobody_is_free_for_marks_the_call_for_follow_up(deliver, lead):
    only = UserFactory(gym=lead.gym, role=RoleFactory(name="sales"))
    start = (timezone.now() + datetime.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    AppointmentFactory(lead__gym=lead.gym, staff=only, scheduled_time=start)

    response = deliver(_agreed(lead, start))

    assert response.status_code == 200
    call = CallLog.objects.for_gym(lead.gym_id).get()
    assert call.outcome == "follow_up_needed" and "no sales person is free" in call.notes
    assert not Appointment.objects.for_gym(lead.gym_id).filter(lead=lead).exists()


@pytest.mark.parametrize("agreed", ["tomorrow at 5", "2026-02-30T10:00:00+01:00", "9999-12-31T23:59:59-23:00"])
def test_an_agreed_time_that_is_no_moment_marks_the_call_for_follow_up(deliver, lead, agreed):
    response = deliver({"event": "call_analyzed", "call": ours(lead, call_analysis={
        "call_successful": True, "custom_analysis_data": {"appointment_time": agreed}})})

    assert response.status_code == 200
    call = CallLog.objects.for_gym(lead.gym_id).get()
    assert call.outcome == "follow_up_needed" and "not a time with an offset" in call.notes
