"""Writes to calls. Each service takes the gym explicitly and runs in its gym's transaction (gym_service)."""

import datetime
import time
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from gyms.models import AISettings, Gym, GymSettings
from leads.choices import OPEN_STATUSES
from leads.models import Lead
from reps.core.cache import affected_by, invalidate_after
from reps.core.transitions import check_transition
from reps.tenancy.database import gym_transaction, gyms_with_due_calls
from reps.tenancy.services import gym_service

from .choices import PENDING_STATUSES, CallDirection, CallStatus, CampaignStatus
from .models import CallLog, Campaign
from .voice import PlatformError, RetellClient

# Which status a call may move to from each status. A failed or unanswered
# call may be scheduled again (a retry); a completed call is final.
CALL_TRANSITIONS = {
    CallStatus.SCHEDULED: [CallStatus.IN_PROGRESS, CallStatus.COMPLETED, CallStatus.FAILED, CallStatus.NO_ANSWER],
    CallStatus.IN_PROGRESS: [CallStatus.COMPLETED, CallStatus.FAILED, CallStatus.NO_ANSWER],
    CallStatus.COMPLETED: [],
    CallStatus.FAILED: [CallStatus.SCHEDULED],
    CallStatus.NO_ANSWER: [CallStatus.SCHEDULED],
}


@gym_service
def update_call_status(*, gym: uuid.UUID, call_id: Any, status: str) -> CallLog | None:
    """Move the gym's call to `status`; None when the gym has no such call.

    Starting a call stamps its real start time; completing it stamps its end
    time and duration (from the start, when it has one). An illegal change,
    like completed to scheduled, raises InvalidTransition.
    """
    call: CallLog | None = CallLog.objects.for_gym(gym).select_for_update().get_by_id(call_id)
    if call is None:
        return None
    check_transition(CALL_TRANSITIONS, call.status, status, "call status")
    if status == call.status:
        return call
    now = timezone.now()
    if status == CallStatus.IN_PROGRESS:
        call.start_time = now
    if status == CallStatus.COMPLETED and call.end_time is None:
        if call.start_time is not None and call.start_time > now:
            # Planned for later but done already: it started now.
            call.start_time = now
        call.end_time = now
        if call.start_time is not None:
            call.duration = int((now - call.start_time).total_seconds())
    call.status = status
    call.save(update_fields=["status", "start_time", "end_time", "duration", "updated_at"])
    invalidate_after(gym, affected_by(CallLog))
    return call


# --- Outbound AI calls -----------------------------------------------------------------------


def next_calling_time(gym: Gym, gym_settings: GymSettings, after: datetime.datetime) -> datetime.datetime:
    """The first moment at or after `after` inside the gym's calling hours, in its time zone."""
    local = after.astimezone(gym.tzinfo)
    for days in range(0, 3):
        day = local.date() + datetime.timedelta(days=days)
        opens = datetime.datetime.combine(day, gym_settings.calling_hours_start, gym.tzinfo)
        closes = datetime.datetime.combine(day, gym_settings.calling_hours_end, gym.tzinfo)
        if after < opens:
            return opens
        if after < closes:
            return after
    raise AssertionError("calling hours always open within two days")


def why_not_call(lead: Lead, attempts: int, pending: bool, max_attempts: int) -> str | None:
    """Why this lead may not get an AI call now, or None when it may."""
    if lead.do_not_call:
        return "The lead asked not to be called."
    if lead.consent_given_at is None:
        return "The lead has not consented to calls."
    if lead.status not in OPEN_STATUSES:
        return f"The lead is {lead.status}."
    if pending:
        return "A call to the lead is already queued or in progress."
    if attempts >= max_attempts:
        return f"The lead has had the most AI calls allowed ({max_attempts})."
    return None


@gym_service
def queue_ai_calls(*, gym: uuid.UUID, lead_ids: list[Any] | None = None, campaign_id: Any = None,
                   at: datetime.datetime | None = None) -> dict[str, Any]:
    """Queue AI calls for these leads (or every open lead, for a campaign) within the gym's calling hours.

    Leads without consent, who opted out, who are not open, who already have a
    call queued, or who have had the gym's maximum number of AI calls are
    skipped with the reason. Returns {"queued": [call ids], "skipped": [{"lead", "reason"}]}.
    """
    gym_row = Gym.objects.get(pk=gym)
    settings_row = GymSettings.objects.for_gym(gym).get()
    if not AISettings.objects.for_gym(gym).filter(is_enabled=True).exists():
        raise ValidationError("The AI agent is switched off for this gym.")
    if not gym_row.phone:
        raise ValidationError("The gym has no calling number: set its phone before queueing AI calls.")
    campaign = None
    if campaign_id is not None:
        campaign = Campaign.objects.for_gym(gym).get_by_id(campaign_id)
        if campaign is None:
            raise ValidationError({"campaign": "No such campaign in this gym."})
    leads = Lead.objects.for_gym(gym)
    if lead_ids is not None:
        lead_ids = list(lead_ids)
        leads = leads.filter(pk__in=lead_ids)
    elif campaign is not None:
        leads = leads.filter(status__in=OPEN_STATUSES)
    else:
        raise ValidationError("Name the leads or the campaign to call.")
    # Locked until the calls are queued: two queues at once would each see no call pending.
    list(leads.select_for_update().values_list("pk", flat=True))
    outbound_ai = Q(calls__is_ai_call=True, calls__direction=CallDirection.OUTBOUND)
    leads = leads.annotate(
        attempts=Count("calls", filter=outbound_ai & Q(calls__counts_as_attempt=True)
                       & ~Q(calls__status__in=PENDING_STATUSES)),
        pending=Count("calls", filter=outbound_ai & Q(calls__status__in=PENDING_STATUSES)),
    ).order_by("created_at")
    found = list(leads)
    if lead_ids is not None and len(found) != len(set(map(str, lead_ids))):
        raise ValidationError({"leads": "Some of these leads do not exist in this gym."})
    start = next_calling_time(gym_row, settings_row, at or timezone.now())
    queued, skipped = [], []
    for lead in found:
        reason = why_not_call(lead, lead.attempts, lead.pending, settings_row.max_call_attempts)
        if reason:
            skipped.append({"lead": str(lead.pk), "reason": reason})
        else:
            queued.append(CallLog(gym=gym_row, lead=lead, campaign=campaign, is_ai_call=True, start_time=start,
                                  status=CallStatus.SCHEDULED, to_number=lead.phone, from_number=gym_row.phone))
    CallLog.objects.bulk_create(queued)
    invalidate_after(gym, affected_by(CallLog))
    return {"queued": [str(call.pk) for call in queued], "skipped": skipped, "start_time": start.isoformat()}


# An unconfirmed call (sent, no answer from the platform yet) is sent again, with the same idempotency key,
# after RESEND_AFTER; the platform keeps a key for an hour, so after RESEND_WITHIN it is not sent again.
RESEND_AFTER = datetime.timedelta(minutes=5)
RESEND_WITHIN = datetime.timedelta(minutes=55)
DISPATCH_COUNTS = ("sent", "failed", "rescheduled", "cancelled", "unconfirmed")
# A round sends for at most this long, then hands back the claims it has not used: no claim waits anywhere
# near RESEND_AFTER (when another round would send the call again) behind slow sends.
ROUND_SECONDS = 60


def dispatch_due_calls(*, client: Any = None, now: datetime.datetime | None = None, limit: int = 100) -> dict[str, int]:
    """Send queued AI calls whose time has come to the voice platform: a job over every gym, one gym at a time.

    The database names the gyms with calls due or unconfirmed (before any gym is known);
    each gym's calls are then dispatched by dispatch_gym_calls(). Returns counts by outcome.
    """
    now = now or timezone.now()
    counts = dict.fromkeys(DISPATCH_COUNTS, 0)
    for gym_id in gyms_with_due_calls(now, now - RESEND_AFTER):
        if limit <= 0:
            break
        for outcome, count in dispatch_gym_calls(gym=gym_id, client=client, now=now, limit=limit).items():
            counts[outcome] += count
            limit -= count
    return counts


@gym_service(atomic=False)  # claims and records in transactions; the platform is called between them
def dispatch_gym_calls(*, gym: uuid.UUID, client: Any = None, now: datetime.datetime | None = None,
                       limit: int = 100) -> dict[str, int]:
    """Send the gym's due AI calls to the voice platform, and again those it has not confirmed; counts.

    The calls are claimed under row locks that other dispatchers skip, so two
    dispatchers never send one call at once; a call sent again carries its
    first idempotency key, so the platform never places it twice. Consent
    and calling hours are checked again at the last moment.
    """
    now = now or timezone.now()
    counts = dict.fromkeys(DISPATCH_COUNTS, 0)
    unconfirmed = Q(dispatched_at__isnull=False, dispatched_at__gte=now - RESEND_WITHIN,
                    updated_at__lt=now - RESEND_AFTER)
    with gym_transaction(gym):
        calls = CallLog.objects.for_gym(gym).filter(is_ai_call=True, status=CallStatus.SCHEDULED,
                                                    retell_call_id__isnull=True)
        # Unconfirmed for longer than the platform keeps its key: sending it again could place a second
        # call. A guess, which the platform's first report about the call corrects.
        calls.filter(dispatched_at__lt=now - RESEND_WITHIN).update(
            status=CallStatus.FAILED, counts_as_attempt=False, updated_at=now,
            notes="The voice platform never confirmed this call: check it there.")
        due = list(
            calls.select_for_update(skip_locked=True, of=("self",))
            .filter(Q(dispatched_at__isnull=True, start_time__lte=now) | unconfirmed)
            .only("pk", "gym_id", "dispatched_at").order_by("start_time")[:limit]
        )
        # Claimed now; dispatched_at keeps a resent call's first send (its idempotency key's hour).
        calls.filter(pk__in=[call.pk for call in due]).update(dispatched_at=Coalesce("dispatched_at", Value(now)),
                                                              updated_at=now)
    started = time.monotonic()
    for index, call in enumerate(due):
        if time.monotonic() - started > ROUND_SECONDS:
            unsent = [waiting.pk for waiting in due[index:] if waiting.dispatched_at is None]
            with gym_transaction(gym):
                CallLog.objects.for_gym(gym).filter(pk__in=unsent, retell_call_id__isnull=True).update(
                    dispatched_at=None)
            break
        # The round's clock, moved on by the time its sends took: calling hours end during a round too.
        counts[_dispatch_one(call, client, now + datetime.timedelta(seconds=time.monotonic() - started))] += 1
    if due:
        with gym_transaction(gym):
            invalidate_after(gym, affected_by(CallLog))
    return counts


def call_request(call: CallLog) -> dict[str, Any]:
    """create-phone-call's arguments for a call: the numbers, our ids, and the gym's agent as it set it up.

    The agent's prompt may use the dynamic variables {{first_name}}, {{gym_name}}, {{agent_name}},
    {{instructions}} and {{qualification_questions}}.
    """
    lead, gym = call.lead, call.gym
    ai, voice = gym.ai_settings, gym.voice_settings
    agent: dict[str, Any] = {"language": voice.language, "voice_speed": float(voice.speaking_rate),
                             "max_call_duration_ms": ai.max_call_minutes * 60_000}
    if voice.voice_id:
        agent["voice_id"] = voice.voice_id
    if voice.voicemail_message:
        agent["voicemail_option"] = {"action": {"type": "static_text", "text": voice.voicemail_message}}
    agent_override: dict[str, Any] = {"agent": agent}
    if ai.greeting:
        agent_override["retell_llm"] = {"begin_message": ai.greeting}
    questions = "\n".join(str(question) for question in ai.qualification_questions or [])
    return {
        "from_number": gym.phone, "to_number": lead.phone, "idempotency_key": str(call.pk),
        "agent_id": ai.agent_id, "agent_version": ai.agent_version, "agent_override": agent_override,
        "metadata": {"gym_id": str(gym.pk), "lead_id": str(lead.pk), "call_log_id": str(call.pk)},
        "dynamic_variables": {"first_name": lead.first_name, "gym_name": gym.name, "agent_name": ai.persona_name,
                              "instructions": ai.instructions, "qualification_questions": questions},
    }


def _dispatch_one(call: CallLog, client: Any, now: datetime.datetime) -> str:
    """Check, send (in no transaction: the platform may be slow) and record one claimed call.

    The lead, the gym's settings and the clock are read again at this moment: a round sends its calls one
    after another, and a do-not-call, the calling hours' end or the agent switched off may come meanwhile.
    """
    first_send = call.dispatched_at is None
    with gym_transaction(call.gym_id):
        fresh = (CallLog.objects.for_gym(call.gym_id)
                 .select_related("lead", "campaign", "gym", "gym__settings", "gym__ai_settings", "gym__voice_settings")
                 .filter(pk=call.pk, status=CallStatus.SCHEDULED, retell_call_id__isnull=True).first())
    if fresh is None:
        return "cancelled"  # reported on, or changed, since it was claimed
    call, lead, gym = fresh, fresh.lead, fresh.gym
    reason = why_not_call(lead, 0, False, 1) or why_not_now(gym, call)
    if reason:
        _update_call(call, status=CallStatus.FAILED, counts_as_attempt=False, notes=f"Not called: {reason}")
        return "cancelled"
    allowed = next_calling_time(gym, gym.settings, now)
    if allowed > now:
        if first_send:
            _update_call(call, start_time=allowed, dispatched_at=None)
        return "rescheduled"  # (an unconfirmed call is not sent again outside calling hours either)
    client = client or RetellClient(api_key=gym.voice_settings.platform_api_key or None)
    try:
        response = client.create_phone_call(**call_request(call))
    except PlatformError as error:
        if error.uncertain:  # it may have been placed: sent again later, with the same key
            _update_call(call, notes=f"Not confirmed by the voice platform yet: {error}"[:1000])
            return "unconfirmed"
        _update_call(call, status=CallStatus.FAILED, counts_as_attempt=False, notes=str(error)[:1000])
        if "do_not_call" in str(error) or "dnc" in str(error).lower():
            # The platform's own do-not-call list has the number: so does ours, from now on.
            with gym_transaction(gym.pk):
                Lead.objects.for_gym(gym.pk).filter(pk=lead.pk).update(do_not_call=True, updated_at=timezone.now())
        return "failed"
    _update_call(call, retell_call_id=response.get("call_id"), notes="")
    return "sent"


def why_not_now(gym: Gym, call: CallLog) -> str | None:
    """Why the gym may not place this call at all now, or None."""
    if not gym.is_active:
        return "The gym is not active."
    if not gym.ai_settings.is_enabled:
        return "The AI agent is switched off for this gym."
    if not gym.phone:
        return "The gym has no calling number."
    if call.campaign is not None and call.campaign.status in (CampaignStatus.PAUSED, CampaignStatus.COMPLETED):
        return f"Its campaign is {call.campaign.status}."
    return None


def _update_call(call: CallLog, **fields: Any) -> None:
    """Record what the dispatcher did, unless the platform has reported on the call meanwhile (a webhook
    can arrive before create-phone-call's answer): the platform's word is not overwritten."""
    with gym_transaction(call.gym_id):
        CallLog.objects.for_gym(call.gym_id).filter(pk=call.pk, status=CallStatus.SCHEDULED).filter(
            Q(retell_call_id__isnull=True) | Q(retell_call_id=fields.get("retell_call_id", "")),
        ).update(**fields, updated_at=timezone.now())
