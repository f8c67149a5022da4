"""The voice platform as its own SDK (retell-sdk) describes it: what each way a call ends does here, requests
compared with the SDK's, no call placed twice, and every event answered.

Webhook bodies are built from the SDK's own call type (PhoneCallResponse) and signed with the SDK's own
signing helper; outbound requests are compared with what the SDK sends for the same call.
"""

import datetime
import re
import threading
import time
import typing
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import IntegrityError, connection
from django.utils import timezone
from rest_framework.test import APIClient
from retell import Retell
from retell.types.phone_call_response import PhoneCallResponse

from accounts.tests.factories import RoleFactory, UserFactory
from calls.choices import DISCONNECTION_EFFECTS, STATUS_EFFECTS, CallOutcome, CallStatus
from calls.models import CallLog, CallTranscript, VoiceWebhookEvent
from calls.services import RESEND_AFTER, RESEND_WITHIN, call_request, dispatch_due_calls, queue_ai_calls
from calls.tests.conftest import KEY, sdk_deliver, sdk_platform_call
from calls.voice import PlatformError, RetellClient
from calls.webhooks import STUCK_AFTER, reconcile_stuck_calls
from gyms.models import PLATFORM_LANGUAGES, AISettings, Gym, GymSettings, VoiceSettings
from leads.models import Lead
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

SDK_REASONS = typing.get_args(typing.get_args(PhoneCallResponse.model_fields["disconnection_reason"].annotation)[0])
README = Path(__file__).resolve().parents[2] / "README.md"
NOON = datetime.time(12)


@pytest.fixture
def gym_with_agent(gym):
    Gym.objects.filter(pk=gym.pk).update(phone="+12125550100", timezone="America/New_York")
    GymSettings.objects.unscoped().filter(gym=gym).update(calling_hours_start=datetime.time(0),
                                                          calling_hours_end=datetime.time(23, 59))
    AISettings.objects.unscoped().filter(gym=gym).update(
        agent_id="agent_gym_a", agent_version=3, persona_name="Sam", greeting="Hi, this is Sam from Gym A!",
        instructions="Offer a free tour.", qualification_questions=["What are your goals?"], max_call_minutes=8)
    VoiceSettings.objects.unscoped().filter(gym=gym).update(
        voice_id="11labs-Adrian", language="es-ES", speaking_rate=1.25, voicemail_message="Call us back!")
    gym.refresh_from_db()
    return gym


@pytest.fixture
def lead(gym_with_agent):
    return LeadFactory(gym=gym_with_agent, phone="+12125550123", status="new", consent_given_at=timezone.now())


def queued_call(lead, **extra):
    """A call placed by the dispatcher, as the queue makes them: it has the platform's call id."""
    report = queue_ai_calls(gym=lead.gym_id, lead_ids=[lead.pk])
    call = CallLog.objects.unscoped().get(pk=report["queued"][0])
    CallLog.objects.unscoped().filter(pk=call.pk).update(
        **{"retell_call_id": f"call_{call.pk.hex[:8]}", "dispatched_at": timezone.now(), **extra})
    call.refresh_from_db()
    return call


def sdk_call(call, status="ended", reason="user_hangup", **fields):
    """The call as the SDK's PhoneCallResponse, serialized as the platform sends it."""
    return sdk_platform_call(call.retell_call_id, to_number=call.lead.phone, status=status, reason=reason,
                             metadata={"gym_id": str(call.gym_id), "lead_id": str(call.lead_id),
                                       "call_log_id": str(call.pk)}, **fields)


# --- every way a call ends -----------------------------------------------------------------------


def test_the_table_names_every_disconnection_reason_of_the_sdk_and_the_readme_shows_it():
    readme = README.read_text()

    assert set(DISCONNECTION_EFFECTS) == set(SDK_REASONS)
    assert set(STATUS_EFFECTS) == set(typing.get_args(PhoneCallResponse.model_fields["call_status"].annotation))
    assert [reason for reason in SDK_REASONS if not re.search(rf"`{reason}`", readme)] == []


@pytest.mark.parametrize("reason", SDK_REASONS)
def test_each_disconnection_reason_does_what_the_table_says_to_the_call_and_the_lead(client, lead, reason):
    effect = DISCONNECTION_EFFECTS[reason]
    call = queued_call(lead)
    status = {CallStatus.COMPLETED: "ended", CallStatus.NO_ANSWER: "not_connected",
              CallStatus.FAILED: "error"}[effect.status]

    response = sdk_deliver(client, "call_ended", sdk_call(call, status=status, reason=reason))

    assert response.status_code == 200, response.content
    call.refresh_from_db()
    lead.refresh_from_db()
    assert call.status == effect.status and call.disconnection_reason == reason
    assert call.counts_as_attempt == effect.attempt
    if effect.outcome:
        assert call.outcome == effect.outcome
    assert (lead.status == "contacted") == effect.reached
    assert (lead.engagement_score > 0) == effect.reached
    assert (lead.last_interaction is not None) == effect.reached
    assert lead.do_not_call == effect.do_not_call
    queued_again = CallLog.objects.unscoped().filter(lead=lead, status="scheduled").exclude(pk=call.pk)
    assert queued_again.exists() == effect.platform_failure


def test_a_do_not_call_request_stops_every_later_call(client, lead, fake_platform):
    call = queued_call(lead)

    sdk_deliver(client, "call_ended", sdk_call(call, reason="user_requested_dnc"))
    report = queue_ai_calls(gym=lead.gym_id, lead_ids=[lead.pk])

    lead.refresh_from_db()
    assert lead.do_not_call and Lead.objects.unscoped().get(pk=lead.pk).do_not_call
    assert report["queued"] == [] and "asked not to be called" in report["skipped"][0]["reason"]
    call.refresh_from_db()
    assert call.outcome == CallOutcome.NOT_INTERESTED


def test_voicemail_and_an_ivr_are_not_a_contact(client, lead):
    for reason in ("voicemail_reached", "ivr_reached"):
        sdk_deliver(client, "call_ended", sdk_call(queued_call(lead), status="not_connected", reason=reason))

    lead.refresh_from_db()
    assert lead.status == "new" and lead.engagement_score == 0 and lead.last_interaction is None
    assert set(CallLog.objects.unscoped().values_list("outcome", flat=True)) == {"voicemail", "no_answer"}


def test_a_voicemail_seen_only_by_the_analysis_is_no_contact_either(client, lead):
    call = queued_call(lead)

    sdk_deliver(client, "call_analyzed", sdk_call(call, reason="agent_hangup",
                                                   call_analysis={"in_voicemail": True, "call_summary": "Voicemail."}))

    lead.refresh_from_db()
    call.refresh_from_db()
    assert lead.status == "new" and call.outcome == "voicemail" and call.status == "no_answer"


def test_a_callback_request_is_a_follow_up(client, lead):
    call = queued_call(lead)

    sdk_deliver(client, "call_ended", sdk_call(call, reason="user_requested_callback"))

    call.refresh_from_db()
    assert call.outcome == CallOutcome.FOLLOW_UP_NEEDED


@pytest.mark.parametrize("reason", ["credit_exhausted", "concurrency_limit_reached", "marked_as_spam",
                                    "telephony_provider_unavailable", "error_llm_websocket_open"])
def test_an_account_or_telephony_failure_uses_no_attempt_warns_and_calls_again_later(client, lead, reason,
                                                                                      settings):
    GymSettings.objects.unscoped().filter(gym=lead.gym).update(max_call_attempts=1)
    cache.clear()
    call = queued_call(lead)
    counted = failures_counted(client, reason)

    sdk_deliver(client, "call_ended", sdk_call(call, status="error", reason=reason))

    call.refresh_from_db()
    again = CallLog.objects.unscoped().get(lead=lead, status="scheduled")
    assert call.status == "failed" and not call.counts_as_attempt and "queued again" in call.notes
    assert again.start_time >= timezone.now() + datetime.timedelta(minutes=59) and again.is_ai_call
    health = client.get("/healthz").json()
    assert any(reason in warning for warning in health["warnings"]), health
    assert failures_counted(client, reason) == counted + 1


def failures_counted(client, reason):
    metrics = client.get("/metrics").content.decode()
    found = re.search(rf'^reps_voice_platform_failures_total{{reason="{reason}"}} (\S+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


def test_an_invalid_number_is_a_wrong_number_and_not_tried_again(client, lead):
    call = queued_call(lead)

    sdk_deliver(client, "call_ended", sdk_call(call, status="not_connected", reason="invalid_destination"))

    call.refresh_from_db()
    assert call.status == "failed" and call.outcome == "wrong_number"
    assert not CallLog.objects.unscoped().filter(status="scheduled").exists()


# --- every event answered ------------------------------------------------------------------------


def test_transcript_updates_are_applied_and_the_latest_kept(client, lead):
    call = queued_call(lead)
    short, longer = "Agent: Hi!", "Agent: Hi!\nUser: Hello, I want to join."

    answers = [sdk_deliver(client, "transcript_updated", sdk_call(call, status="ongoing", transcript=text))
               for text in (short, longer, short)]  # the last one late

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert CallTranscript.objects.unscoped().get(call=call).content == longer
    call.refresh_from_db()
    assert call.status == "in_progress"


@pytest.mark.parametrize("event", ["transfer_started", "transfer_bridged", "transfer_cancelled", "transfer_ended",
                                   "a_future_event"])
def test_every_other_event_is_answered_and_recorded(client, lead, event):
    call = queued_call(lead)

    response = sdk_deliver(client, event, sdk_call(call, status="ongoing"))

    assert response.status_code == 200
    assert response.json()["applied"] == (event != "a_future_event")
    record = VoiceWebhookEvent.objects.get(event=event)
    assert record.gym_id == lead.gym_id
    assert record.status == ("ignored" if event == "a_future_event" else "processed")


# --- outbound: the SDK's request, placed once ------------------------------------------------------


def test_the_request_is_the_one_the_sdk_sends_for_the_same_call(lead, fake_platform):
    call = CallLog.objects.unscoped().get(pk=queue_ai_calls(gym=lead.gym_id, lead_ids=[lead.pk])["queued"][0])
    arguments = call_request(CallLog.objects.unscoped().select_related(
        "lead", "gym__ai_settings", "gym__voice_settings").get(pk=call.pk))

    RetellClient(base_url=fake_platform.url).create_phone_call(**arguments)
    sdk = Retell(api_key=KEY, base_url=fake_platform.url, max_retries=0)
    sdk.call.create_phone_call(
        from_number=arguments["from_number"], to_number=arguments["to_number"], honor_internal_dnc=True,
        idempotency_key=arguments["idempotency_key"], metadata=arguments["metadata"],
        retell_llm_dynamic_variables=arguments["dynamic_variables"], override_agent_id=arguments["agent_id"],
        override_agent_version=arguments["agent_version"], agent_override=arguments["agent_override"])

    ours, theirs = fake_platform.requests
    assert ours["path"] == theirs["path"] == "/v2/create-phone-call"
    assert ours["body"] == theirs["body"]
    assert ours["headers"]["Authorization"] == theirs["headers"]["Authorization"] == f"Bearer {KEY}"
    # The gym's agent set-up, as create-phone-call takes it.
    assert ours["body"]["agent_override"] == {
        "agent": {"language": "es-ES", "voice_speed": 1.25, "max_call_duration_ms": 480_000,
                  "voice_id": "11labs-Adrian",
                  "voicemail_option": {"action": {"type": "static_text", "text": "Call us back!"}}},
        "retell_llm": {"begin_message": "Hi, this is Sam from Gym A!"}}
    assert ours["body"]["retell_llm_dynamic_variables"]["agent_name"] == "Sam"
    assert (ours["body"]["override_agent_id"], ours["body"]["override_agent_version"]) == ("agent_gym_a", 3)
    assert ours["body"]["idempotency_key"] == str(call.pk) and ours["body"]["honor_internal_dnc"] is True
    assert len(fake_platform.placed) == 1  # the same key: one call


def test_the_languages_offered_are_those_the_sdk_takes():
    from retell.types.call_create_phone_call_params import AgentOverrideAgent
    hints = typing.get_type_hints(AgentOverrideAgent)
    literal = next(arg for arg in typing.get_args(hints["language"]) if typing.get_origin(arg) is typing.Literal)

    assert set(PLATFORM_LANGUAGES) == set(typing.get_args(literal))


def test_5xx_answers_are_retried_with_the_same_key_and_place_one_call(lead, fake_platform, settings):
    settings.RETELL_RETRIES = 3
    call = CallLog.objects.unscoped().get(pk=queue_ai_calls(gym=lead.gym_id, lead_ids=[lead.pk])["queued"][0])
    # The first answer fails after the platform placed the call; the second fails before.
    fake_platform.responses = [(500, "placed"), (503, {"error_message": "busy"})]

    counts = dispatch_due_calls()

    assert counts["sent"] == 1
    assert len(fake_platform.requests) == 3
    assert {request["body"]["idempotency_key"] for request in fake_platform.requests} == {str(call.pk)}
    assert len(fake_platform.placed) == 1
    call.refresh_from_db()
    assert call.retell_call_id == fake_platform.placed[0]["call_id"]


def test_a_timeout_is_no_failure_and_the_call_is_sent_again_with_its_key_once(lead, fake_platform, settings):
    settings.RETELL_TIMEOUT_SECONDS = 1
    call = CallLog.objects.unscoped().get(pk=queue_ai_calls(gym=lead.gym_id, lead_ids=[lead.pk])["queued"][0])
    fake_platform.responses = [(201, None, 2)]  # placed, answered too late

    first = dispatch_due_calls()
    call.refresh_from_db()
    assert first["unconfirmed"] == 1 and call.status == "scheduled" and call.retell_call_id is None
    assert "Not confirmed" in call.notes
    assert dispatch_due_calls()["unconfirmed"] + dispatch_due_calls()["sent"] == 0  # not again at once
    assert queue_ai_calls(gym=lead.gym_id, lead_ids=[lead.pk])["queued"] == []  # still pending

    later = dispatch_due_calls(now=timezone.now() + RESEND_AFTER + datetime.timedelta(seconds=5))

    call.refresh_from_db()
    assert later["sent"] == 1 and call.retell_call_id == "call_1"
    assert len(fake_platform.placed) == 1 and len(fake_platform.requests) == 2


def test_a_call_never_confirmed_is_a_guess_the_platforms_report_corrects(client, lead, fake_platform, settings):
    settings.RETELL_TIMEOUT_SECONDS = 1
    call = CallLog.objects.unscoped().get(pk=queue_ai_calls(gym=lead.gym_id, lead_ids=[lead.pk])["queued"][0])
    fake_platform.responses = [(201, None, 2)]
    dispatch_due_calls()
    dispatch_due_calls(now=timezone.now() + RESEND_WITHIN + datetime.timedelta(minutes=1))
    call.refresh_from_db()
    assert call.status == "failed" and not call.counts_as_attempt and "never confirmed" in call.notes

    call.retell_call_id = "call_1"  # what the platform's report names
    sdk_deliver(client, "call_ended", sdk_call(call, reason="user_hangup"))

    call.refresh_from_db()
    lead.refresh_from_db()
    assert call.status == "completed" and call.retell_call_id == "call_1" and call.counts_as_attempt
    assert lead.status == "contacted"


def test_the_platforms_do_not_call_refusal_fails_the_call_without_an_attempt(lead, fake_platform):
    call = CallLog.objects.unscoped().get(pk=queue_ai_calls(gym=lead.gym_id, lead_ids=[lead.pk])["queued"][0])
    fake_platform.responses = [(400, {"error_message": "The contact is marked do_not_call"})]

    assert dispatch_due_calls()["failed"] == 1

    call.refresh_from_db()
    assert call.status == "failed" and not call.counts_as_attempt and "do_not_call" in call.notes
    assert len(fake_platform.requests) == 1
    lead.refresh_from_db()
    assert lead.do_not_call  # and so no campaign queues it again


def test_calls_the_platform_never_reported_ended_are_asked_about_with_get_call(lead, fake_platform):
    call = queued_call(lead, retell_call_id="call_lost", status="in_progress",
                       dispatched_at=timezone.now() - STUCK_AFTER - datetime.timedelta(minutes=1))
    fake_platform.calls["call_lost"] = sdk_call(call, reason="user_hangup")

    assert reconcile_stuck_calls() == 1

    call.refresh_from_db()
    lead.refresh_from_db()
    assert call.status == "completed" and lead.status == "contacted"
    assert fake_platform.requests[0]["path"] == "/v2/get-call/call_lost"
    assert reconcile_stuck_calls() == 0 and len(fake_platform.requests) == 1


# --- only the queue places calls; the gym's own number -----------------------------------------------


def test_a_call_recorded_through_the_api_is_never_placed(lead, fake_platform):
    sales = APIClient()
    sales.force_authenticate(UserFactory(gym=lead.gym, role=RoleFactory(name="sales")))
    past = (timezone.now() - datetime.timedelta(hours=1)).isoformat()

    ai = sales.post("/api/v1/calls/", {"lead": str(lead.pk), "is_ai_call": True, "start_time": past}, format="json")
    manual = sales.post("/api/v1/calls/", {"lead": str(lead.pk), "start_time": past}, format="json")

    assert ai.status_code == 400 and "calls/queue/" in ai.json()["errors"]["is_ai_call"][0]
    assert manual.status_code == 201 and manual.json()["is_ai_call"] is False
    assert dispatch_due_calls()["sent"] == 0 and fake_platform.requests == []


def test_an_ai_calls_lead_and_time_stay_as_queued(lead, other_gym):
    call = CallLog.objects.unscoped().get(pk=queue_ai_calls(gym=lead.gym_id, lead_ids=[lead.pk])["queued"][0])
    sales = APIClient()
    sales.force_authenticate(UserFactory(gym=lead.gym, role=RoleFactory(name="sales")))
    another = LeadFactory(gym=lead.gym, do_not_call=True)

    moved = sales.patch(f"/api/v1/calls/{call.pk}/", {"lead": str(another.pk)}, format="json")

    assert moved.status_code == 400 and "lead" in moved.json()["errors"]
    assert CallLog.objects.unscoped().get(pk=call.pk).lead_id == lead.pk


def test_a_gym_cannot_take_another_gyms_calling_number(gym_with_agent, other_gym):
    owner = APIClient()
    owner.force_authenticate(UserFactory(gym=other_gym, role=RoleFactory(name="owner")))

    taken = owner.patch("/api/v1/gym/", {"phone": "(212) 555-0100"}, format="json")
    own = owner.patch("/api/v1/gym/", {"phone": "+1 212 555 0199"}, format="json")

    assert taken.status_code == 400 and "Another gym" in taken.json()["errors"]["phone"][0]
    assert own.status_code == 200 and own.json()["phone"] == "+12125550199"


def test_queueing_without_a_calling_number_is_refused_with_the_reason(gym):
    lead = LeadFactory(gym=gym, consent_given_at=timezone.now())

    with pytest.raises(Exception, match="no calling number"):
        queue_ai_calls(gym=gym.pk, lead_ids=[lead.pk])


# --- recordings ----------------------------------------------------------------------------------


@pytest.mark.parametrize("link, kept", [("https://recordings.retellai.com/a.wav", True),
                                        ("javascript:alert(1)", False), ("http://insecure.example/a.wav", False)])
def test_only_https_recording_links_are_kept(client, lead, link, kept):
    call = queued_call(lead)

    sdk_deliver(client, "call_ended", sdk_call(call, recording_url=link))

    call.refresh_from_db()
    assert call.recording_url == (link if kept else "")


def test_a_recording_link_is_fetched_afresh_when_asked(lead, fake_platform, other_gym):
    call = queued_call(lead, recording_url="https://recordings.example/old.wav?expires=1")
    fake_platform.calls[call.retell_call_id] = sdk_call(call, recording_url="https://recordings.example/new.wav")
    staff = APIClient()
    staff.force_authenticate(UserFactory(gym=lead.gym, role=RoleFactory(name="sales")))
    stranger = APIClient()
    stranger.force_authenticate(UserFactory(gym=other_gym, role=RoleFactory(name="owner")))

    answer = staff.get(f"/api/v1/calls/{call.pk}/recording/")

    assert answer.status_code == 200 and answer.json() == {"recording_url": "https://recordings.example/new.wav"}
    assert CallLog.objects.unscoped().get(pk=call.pk).recording_url.endswith("new.wav")
    assert stranger.get(f"/api/v1/calls/{call.pk}/recording/").status_code == 404


# --- the webhook resolves its call once ---------------------------------------------------------------


@pytest.fixture
def gym_b_with_its_own_key(other_gym):
    Gym.objects.filter(pk=other_gym.pk).update(phone="+12125550200")
    VoiceSettings.objects.unscoped().filter(gym=other_gym).update(platform_api_key="gym-b-key")
    return other_gym


def aimed_at_gym_a(call_b, gym_a_lead):
    """Gym B's call, its numbers pointing at gym A: inbound to A's number, from A's lead."""
    body = sdk_call(call_b, reason="user_requested_dnc")
    body.update(direction="inbound", from_number=gym_a_lead.phone, to_number="+12125550100", metadata={})
    return body


def test_an_event_whose_call_is_gone_is_checked_with_the_key_of_where_it_would_apply(client, lead,
                                                                                    gym_b_with_its_own_key):
    call_b = queued_call(LeadFactory(gym=gym_b_with_its_own_key, consent_given_at=timezone.now(),
                                     phone="+12125550177"), retell_call_id="call_b")
    body = aimed_at_gym_a(call_b, lead)
    CallLog.objects.unscoped().filter(pk=call_b.pk).delete()

    response = sdk_deliver(client, "call_ended", body, key="gym-b-key")

    assert response.status_code == 401
    lead.refresh_from_db()
    assert not lead.do_not_call and not CallLog.objects.unscoped().filter(gym=lead.gym).exists()


@pytest.mark.django_db(transaction=True)
def test_a_gyms_signed_event_never_writes_into_another_gym_when_its_call_is_deleted_meanwhile(
        lead, gym_b_with_its_own_key, monkeypatch):
    """The attack's race, made certain: gym B deletes the event's call right after its signature was checked.

    Resolved twice (once for the key, once to apply), the event fell through to gym A by its numbers and
    wrote there. Resolved once with the call locked, the deletion waits until the event is applied in B.
    """
    from calls import views
    lead_b = LeadFactory(gym=gym_b_with_its_own_key, consent_given_at=timezone.now(), phone="+12125550177")
    call_b = queued_call(lead_b, retell_call_id="call_b")
    real_verify, waited = views.verify, threading.Event()

    def delete():
        try:  # gym B, on its own connection
            CallLog.objects.unscoped().filter(pk=call_b.pk).delete()
        except IntegrityError:
            pass  # waited for the event, which gave the call a transcript meanwhile
        finally:
            waited.set()
            connection.close()

    def verify_then_delete(*args):
        real_verify(*args)
        deleter = threading.Thread(target=delete)
        deleter.start()
        deleter.join(timeout=2)  # done at once, unless the call is locked until the event is applied

    monkeypatch.setattr(views, "verify", verify_then_delete)

    response = sdk_deliver(APIClient(), "call_ended", aimed_at_gym_a(call_b, lead), key="gym-b-key")

    assert response.status_code == 200
    assert waited.wait(5)
    lead.refresh_from_db()
    assert not lead.do_not_call and lead.status == "new"
    assert not CallLog.objects.unscoped().filter(gym=lead.gym).exists()
    assert not VoiceWebhookEvent.objects.filter(gym=lead.gym).exists()
    # Applied where it was checked: to gym B's call, which the deletion waited for.
    assert CallLog.objects.unscoped().get(pk=call_b.pk).status == "completed"


# --- found by a hostile review ---------------------------------------------------------------------


def test_a_voicemail_found_by_the_analysis_after_the_call_ended_takes_the_contact_back(client, lead):
    call = queued_call(lead)

    sdk_deliver(client, "call_ended", sdk_call(call, reason="user_hangup"))
    lead.refresh_from_db()
    assert lead.status == "contacted"
    sdk_deliver(client, "call_analyzed", sdk_call(call, reason="user_hangup", call_analysis={"in_voicemail": True}))

    lead.refresh_from_db()
    call.refresh_from_db()
    assert (call.status, call.outcome) == ("no_answer", "voicemail")
    assert (lead.status, lead.engagement_score, lead.last_interaction) == ("new", 0, None)


def test_a_voicemail_analysed_before_the_call_ended_stays_a_voicemail(client, lead):
    call = queued_call(lead)

    sdk_deliver(client, "call_analyzed", sdk_call(call, reason="user_hangup", call_analysis={"in_voicemail": True}))
    sdk_deliver(client, "call_ended", sdk_call(call, reason="user_hangup"))

    call.refresh_from_db()
    lead.refresh_from_db()
    assert (call.status, call.outcome, lead.status) == ("no_answer", "voicemail", "new")


def test_a_leads_own_call_uses_none_of_the_ai_calls_attempts_and_blocks_no_queue(client, lead):
    GymSettings.objects.unscoped().filter(gym=lead.gym).update(max_call_attempts=1)
    inbound = CallLog(gym=lead.gym, lead=lead, retell_call_id="call_in")
    body = sdk_call(inbound, status="ongoing")
    body.update(direction="inbound", from_number=lead.phone, to_number="+12125550100", metadata={})
    sdk_deliver(client, "call_started", body)  # and its call_ended never comes

    report = queue_ai_calls(gym=lead.gym_id, lead_ids=[lead.pk])

    assert CallLog.objects.unscoped().get(retell_call_id="call_in").status == "in_progress"
    assert len(report["queued"]) == 1, report


class SlowPlatform:
    """A client that takes its time, and runs `meanwhile` while it places the first call."""

    def __init__(self, seconds=0.0, meanwhile=None):
        self.seconds, self.meanwhile, self.placed = seconds, meanwhile, []

    def create_phone_call(self, **request):
        if self.meanwhile and not self.placed:
            self.meanwhile()
        time.sleep(self.seconds)
        self.placed.append(request["to_number"])
        return {"call_id": f"call_slow_{len(self.placed)}"}


def test_a_do_not_call_that_comes_during_a_round_stops_the_later_call(lead):
    second = LeadFactory(gym=lead.gym, consent_given_at=timezone.now(), phone="+12125550124")
    queue_ai_calls(gym=lead.gym_id, lead_ids=[lead.pk])
    queue_ai_calls(gym=lead.gym_id, lead_ids=[second.pk])
    platform = SlowPlatform(meanwhile=lambda: Lead.objects.unscoped().filter(pk=second.pk).update(do_not_call=True))

    counts = dispatch_due_calls(client=platform)

    assert platform.placed == [lead.phone] and counts["cancelled"] == 1


def test_calling_hours_that_end_during_a_round_stop_its_later_calls(lead):
    second = LeadFactory(gym=lead.gym, consent_given_at=timezone.now(), phone="+12125550124")
    closing = datetime.datetime.now(lead.gym.tzinfo).replace(hour=20, minute=0, second=0, microsecond=0)
    GymSettings.objects.unscoped().filter(gym=lead.gym).update(calling_hours_start=datetime.time(9),
                                                               calling_hours_end=datetime.time(20))
    for each in (lead, second):
        queue_ai_calls(gym=lead.gym_id, lead_ids=[each.pk], at=closing - datetime.timedelta(hours=1))
    platform = SlowPlatform(seconds=1.2)

    counts = dispatch_due_calls(client=platform, now=closing - datetime.timedelta(seconds=1))

    assert len(platform.placed) == 1 and counts["rescheduled"] == 1


def test_a_switched_off_agent_or_a_paused_campaign_places_no_queued_call(lead, fake_platform):
    from calls.models import Campaign
    campaign = Campaign.objects.create(gym=lead.gym, name="Spring", status="active")
    queue_ai_calls(gym=lead.gym_id, campaign_id=campaign.pk)
    Campaign.objects.unscoped().filter(pk=campaign.pk).update(status="paused")

    assert dispatch_due_calls()["cancelled"] == 1
    assert fake_platform.requests == []
    assert "paused" in CallLog.objects.unscoped().get(lead=lead).notes


@pytest.mark.django_db(transaction=True)
def test_two_queues_at_once_queue_one_call_for_a_lead(lead):
    start, results = threading.Barrier(2), []

    def queue():
        start.wait()
        results.append(queue_ai_calls(gym=lead.gym_id, lead_ids=[lead.pk]))
        connection.close()

    threads = [threading.Thread(target=queue) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(len(result["queued"]) for result in results) == [0, 1]
    assert CallLog.objects.unscoped().filter(lead=lead, status="scheduled").count() == 1


def test_the_platforms_report_that_came_first_is_not_overwritten_by_the_dispatchers_failure(client, lead):
    call = CallLog.objects.unscoped().get(pk=queue_ai_calls(gym=lead.gym_id, lead_ids=[lead.pk])["queued"][0])

    class ReportsThenFails:
        def create_phone_call(self, **request):
            call.retell_call_id = "call_live"
            sdk_deliver(client, "call_started", sdk_call(call, status="ongoing"))
            raise PlatformError("/v2/create-phone-call answered 400: odd", uncertain=False)

    dispatch_due_calls(client=ReportsThenFails())
    sdk_deliver(client, "call_ended", sdk_call(call, reason="user_hangup"))

    call.refresh_from_db()
    lead.refresh_from_db()
    assert (call.status, call.counts_as_attempt, lead.status) == ("completed", True, "contacted")


def test_a_call_the_platform_never_reports_ended_is_given_up_after_a_day(lead, fake_platform):
    call = queued_call(lead, retell_call_id="call_gone", status="in_progress",
                       dispatched_at=timezone.now() - datetime.timedelta(days=1, minutes=1))

    reconcile_stuck_calls()

    call.refresh_from_db()
    assert call.status == "failed" and not call.counts_as_attempt and fake_platform.requests == []
    assert len(queue_ai_calls(gym=lead.gym_id, lead_ids=[lead.pk])["queued"]) == 1
