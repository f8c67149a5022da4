"""Writes to calls. Each service takes the gym explicitly and runs in its gym's transaction (gym_service)."""

import datetime
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.utils import timezone

from gyms.models import AISettings, Gym, GymSettings
from leads.choices import OPEN_STATUSES
from leads.models import Lead
from reps.core.cache import affected_by, invalidate_after
from reps.core.transitions import check_transition
from reps.tenancy.database import gym_transaction, gyms_with_due_calls
from reps.tenancy.services import gym_service

from .choices import PENDING_STATUSES, CallStatus
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
    leads = leads.annotate(
        attempts=Count("calls", filter=Q(calls__is_ai_call=True) & ~Q(calls__status__in=PENDING_STATUSES)),
        pending=Count("calls", filter=Q(calls__status__in=PENDING_STATUSES)),
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


STALE_CLAIM = datetime.timedelta(minutes=15)
DISPATCH_COUNTS = ("sent", "failed", "rescheduled", "cancelled")


def dispatch_due_calls(*, client: Any = None, now: datetime.datetime | None = None, limit: int = 100) -> dict[str, int]:
    """Send queued AI calls whose time has come to the voice platform: a job over every gym, one gym at a time.

    The database names the gyms with calls due (before any gym is known);
    each gym's calls are then dispatched by dispatch_gym_calls(). Returns counts by outcome.
    """
    now = now or timezone.now()
    counts = dict.fromkeys(DISPATCH_COUNTS, 0)
    for gym_id in gyms_with_due_calls(now, now - STALE_CLAIM):
        if limit <= 0:
            break
        for outcome, count in dispatch_gym_calls(gym=gym_id, client=client, now=now, limit=limit).items():
            counts[outcome] += count
            limit -= count
    return counts


@gym_service(atomic=False)  # claims and records in transactions; the platform is called between them
def dispatch_gym_calls(*, gym: uuid.UUID, client: Any = None, now: datetime.datetime | None = None,
                       limit: int = 100) -> dict[str, int]:
    """Send the gym's due AI calls to the voice platform; counts by outcome.

    The calls are claimed under row locks that other dispatchers skip, so two
    dispatchers never send one call. Consent and calling hours are checked
    again at the last moment.
    """
    now = now or timezone.now()
    counts = dict.fromkeys(DISPATCH_COUNTS, 0)
    with gym_transaction(gym):
        calls = CallLog.objects.for_gym(gym)
        # A claim that never got a platform id (the dispatcher died mid-way) is reported, not resent:
        # the platform may have placed the call, and its webhooks will say so.
        calls.filter(
            is_ai_call=True, status=CallStatus.SCHEDULED, retell_call_id__isnull=True,
            dispatched_at__lt=now - STALE_CLAIM,
        ).update(status=CallStatus.FAILED, notes="The dispatch was interrupted; check the voice platform.")
        due = list(
            calls.select_for_update(skip_locked=True, of=("self",))
            .filter(is_ai_call=True, status=CallStatus.SCHEDULED, retell_call_id__isnull=True,
                    dispatched_at__isnull=True, start_time__lte=now)
            .select_related("lead", "gym", "gym__settings", "gym__ai_settings", "gym__voice_settings")
            .order_by("start_time")[:limit]
        )
        calls.filter(pk__in=[call.pk for call in due]).update(dispatched_at=now)
    for call in due:
        counts[_dispatch_one(call, client, now)] += 1
    if due:
        with gym_transaction(gym):
            invalidate_after(gym, affected_by(CallLog))
    return counts


def _dispatch_one(call: CallLog, client: Any, now: datetime.datetime) -> str:
    """Check, send (in no transaction: the platform may be slow) and record one claimed call."""
    lead, gym = call.lead, call.gym
    reason = why_not_call(lead, 0, False, 1)
    if reason:
        _update_call(call, status=CallStatus.FAILED, notes=f"Not called: {reason}")
        return "cancelled"
    allowed = next_calling_time(gym, gym.settings, now)
    if allowed > now:
        _update_call(call, start_time=allowed, dispatched_at=None)
        return "rescheduled"
    client = client or RetellClient(api_key=gym.voice_settings.platform_api_key or None)
    try:
        response = client.create_phone_call(
            from_number=gym.phone, to_number=lead.phone, agent_id=gym.ai_settings.agent_id,
            metadata={"gym_id": str(gym.pk), "lead_id": str(lead.pk), "call_log_id": str(call.pk)},
            dynamic_variables={"first_name": lead.first_name, "gym_name": gym.name},
        )
    except PlatformError as error:
        _update_call(call, status=CallStatus.FAILED, notes=str(error)[:1000])
        return "failed"
    _update_call(call, retell_call_id=response.get("call_id"))
    return "sent"


def _update_call(call: CallLog, **fields: Any) -> None:
    with gym_transaction(call.gym_id):
        CallLog.objects.for_gym(call.gym_id).filter(pk=call.pk).update(**fields)
