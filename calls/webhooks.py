"""What the voice platform's webhooks do to our data (the services behind POST /api/v1/webhooks/voice/retell/).

Every event is recorded once by (call id, event): a retried or duplicated
delivery changes nothing. Each event carries the whole call as the platform
knows it, so events are merged in any order: a status never goes back
(ended stays ended when a late call_started arrives), and what happens once
per call (the lead counted as contacted, an appointment booked) happens once.

The agent's post-call analysis may set these `custom_analysis_data` fields
(documented in the README): `appointment_time` (ISO 8601 with an offset, the
start the lead agreed to), `opted_out`, `not_interested`, `wrong_number`,
`follow_up` (booleans).
"""

import contextlib
import datetime
import logging
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from appointments.models import Appointment
from appointments.services import FIRST_FREE_SALES_PERSON, AppointmentConflict, book_appointment, sales_staff
from gyms.models import Gym, VoiceSettings
from leads.choices import LeadStatus
from leads.models import Lead
from reps.core.cache import everything, invalidate_after
from reps.core.phones import normalize_phone
from reps.tenancy.database import gym_of, gym_scope

from .choices import CallOutcome, CallStatus, WebhookStatus
from .models import CallLog, CallTranscript, VoiceWebhookEvent

logger = logging.getLogger("reps.voice")

EVENTS = {"call_started", "call_ended", "call_analyzed"}
STATUS_FROM_PLATFORM = {
    "registered": CallStatus.SCHEDULED,
    "ongoing": CallStatus.IN_PROGRESS,
    "ended": CallStatus.COMPLETED,
    "not_connected": CallStatus.NO_ANSWER,
    "error": CallStatus.FAILED,
}
# How far along a call is: a status never moves back.
PROGRESS = {CallStatus.SCHEDULED: 0, CallStatus.IN_PROGRESS: 1, CallStatus.COMPLETED: 2,
            CallStatus.NO_ANSWER: 2, CallStatus.FAILED: 2}
NO_ANSWER_REASONS = {"dial_no_answer", "dial_busy"}
CONTACTED_POINTS, BOOKED_POINTS = 10, 25  # engagement, as in the LeadV2 backfill


def event_of(payload):
    """(event, call dict, call id) of a webhook body, or a ValidationError."""
    if not isinstance(payload, dict):
        raise ValidationError("The body must be a JSON object.")
    event = payload.get("event") or payload.get("event_type")
    call = payload.get("call")
    if event not in EVENTS:
        raise ValidationError({"event": f"Expected one of {', '.join(sorted(EVENTS))}."})
    if not isinstance(call, dict) or not isinstance(call.get("call_id"), str) or not call["call_id"]:
        raise ValidationError({"call": "Expected a call object with a call_id."})
    if _holds_nul(payload):  # PostgreSQL text and jsonb cannot store it
        raise ValidationError("The body may not contain NUL characters.")
    return event, call, call["call_id"]


def _holds_nul(value):
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def resolve(call):
    """(gym, lead, our call log or None) for a platform call; gym or lead None when unknown.

    The gym is found first (by the call's platform id, the metadata we sent
    with it, or the gym's phone number), through the database's gym-finding
    functions; the rest is read inside that gym. Runs inside a transaction.
    """
    gym_id = gym_of("platform_call", call["call_id"])
    metadata = call.get("metadata") if isinstance(call.get("metadata"), dict) else {}
    outbound = call.get("direction", "outbound") != "inbound"
    gym_number, lead_number = (call.get("from_number"), call.get("to_number"))[:: 1 if outbound else -1]
    for candidate in (gym_id, _uuid(metadata.get("gym_id")), _gym_by_number(gym_number)):
        if candidate is None:
            continue
        with gym_scope(candidate):
            gym = Gym.objects.filter(pk=candidate).first()
            if gym is None:
                continue  # metadata naming no gym
            known = CallLog.objects.for_gym(gym).select_related("lead").filter(retell_call_id=call["call_id"]).first()
            if known is not None:
                return gym, known.lead, known
            ours = _by_id(CallLog.objects.for_gym(gym).select_related("lead").filter(retell_call_id__isnull=True),
                          metadata.get("call_log_id"))
            if ours is not None:
                return gym, ours.lead, ours
            lead = _by_id(Lead.objects.for_gym(gym), metadata.get("lead_id"))
            # Not one of ours: the lead by their number.
            return gym, lead or Lead.objects.for_gym(gym).find_by_phone(lead_number or ""), None
    return None, None, None


def _uuid(value):
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _by_id(queryset, value):
    pk = _uuid(value)
    return queryset.filter(pk=pk).first() if pk else None


def _gym_by_number(number):
    try:
        return gym_of("phone", normalize_phone(number or ""))
    except ValidationError:
        return None


def signing_keys(payload: Any) -> list[str]:
    """The API keys that may have signed this body: the gym's own, if it has one, then the default."""
    keys = []
    try:
        _, call, _ = event_of(payload)
        gym, _, _ = resolve(call)
    except ValidationError:
        gym = None
    if gym is not None:
        with gym_scope(gym):
            own = VoiceSettings.objects.for_gym(gym).values_list("platform_api_key", flat=True).first()
        if own:
            keys.append(own)
    keys.append(settings.RETELL_API_KEY)
    return keys


def handle_event(payload):
    """Apply one webhook event, once. Returns its VoiceWebhookEvent, or None for a repeat delivery.

    Runs in its caller's transaction or its own. The event is recorded with
    what is known of it in one insert: an event of no gym is written but,
    under row-level security, never read back by the application.
    """
    event, call, call_id = event_of(payload)
    with transaction.atomic():
        gym, lead, known = resolve(call)
        with gym_scope(gym) if gym is not None else contextlib.nullcontext():
            record = VoiceWebhookEvent(platform_call_id=call_id, event=event, payload=payload, gym=gym)
            if lead is None:
                record.status = WebhookStatus.UNMATCHED
                record.note = ("No gym matches this call's numbers." if gym is None
                               else "No lead of the gym has this number.")
            try:
                with transaction.atomic():
                    _insert(record)
            except IntegrityError:
                return None  # delivered before: its first delivery was applied (or is, and this waited for it)
            if lead is None:
                logger.warning("Voice webhook for an unknown call %s kept for review: %s", call_id, record.note)
                return record
            record.call_log = _apply(gym, lead, known, call)
            record.save(update_fields=["call_log"])
    return record


def _insert(record):
    if record.gym_id is not None:
        record.save(force_insert=True)
        return
    # An event of no gym: the insert must not read it back (INSERT ... RETURNING
    # would, and row-level security shows no gym's events to the application).
    fields = [field for field in record._meta.concrete_fields if not field.primary_key]
    VoiceWebhookEvent._base_manager._insert([record], fields=fields, returning_fields=None)  # type: ignore[attr-defined]


def _apply(gym, lead, known, call):
    call_log = _locked_call_log(gym, lead, known, call["call_id"])
    previous_status = call_log.status
    _merge(call_log, call)
    analysis: dict[str, Any] = call["call_analysis"] if isinstance(call.get("call_analysis"), dict) else {}
    custom: dict[str, Any] = (analysis["custom_analysis_data"] if isinstance(analysis.get("custom_analysis_data"), dict)
                              else {})
    if analysis:
        call_log.summary = analysis.get("call_summary") or call_log.summary
        call_log.sentiment = analysis.get("user_sentiment") or call_log.sentiment
        call_log.analysis = {**call_log.analysis, **custom, "call_successful": analysis.get("call_successful"),
                             "in_voicemail": analysis.get("in_voicemail")}
    _store_transcript(gym, call_log, call)
    call_log.save()

    lead = Lead.objects.for_gym(gym).select_for_update().get(pk=lead.pk)
    lead_fields = set()
    if call_log.status == CallStatus.COMPLETED and previous_status != CallStatus.COMPLETED:
        if lead.status == LeadStatus.NEW:
            lead.status = LeadStatus.CONTACTED
            lead_fields.add("status")
        lead.engagement_score = min(100, lead.engagement_score + CONTACTED_POINTS)
        lead_fields.add("engagement_score")
    moment = call_log.end_time or call_log.start_time
    if call_log.status == CallStatus.COMPLETED and moment and (lead.last_interaction is None
                                                               or moment > lead.last_interaction):
        lead.last_interaction = moment
        lead_fields.add("last_interaction")
    if custom.get("opted_out") and not lead.do_not_call:
        lead.do_not_call = True
        lead_fields.add("do_not_call")
    booked = _book_if_agreed(gym, lead, call_log, custom)
    if booked:
        lead.engagement_score = min(100, lead.engagement_score + BOOKED_POINTS)
        lead_fields.add("engagement_score")
    if lead_fields:
        lead.save(update_fields=[*lead_fields, "updated_at"])
    call_log.outcome = _outcome(call_log, analysis, custom) or call_log.outcome
    call_log.save(update_fields=["outcome", "notes", "updated_at"])
    invalidate_after(gym, everything())
    return call_log


def _locked_call_log(gym, lead, known, call_id):
    calls = CallLog.objects.for_gym(gym).select_for_update()
    if known is not None:
        call_log = calls.get(pk=known.pk)
        call_log.retell_call_id = call_id
        return call_log
    try:
        with transaction.atomic():
            return CallLog.objects.create(gym=gym, lead=lead, retell_call_id=call_id, is_ai_call=True)
    except IntegrityError:
        # Another event of this call created it a moment ago.
        return calls.get(retell_call_id=call_id)


def _merge(call_log, call):
    status = STATUS_FROM_PLATFORM.get(call.get("call_status"))
    if status is not None and PROGRESS[status] > PROGRESS.get(call_log.status, 0):
        call_log.status = status
    start, end = _when(call.get("start_timestamp")), _when(call.get("end_timestamp"))
    call_log.start_time = start or call_log.start_time
    call_log.end_time = end or call_log.end_time
    if isinstance(call.get("duration_ms"), (int, float)) and call["duration_ms"] >= 0:
        call_log.duration = round(call["duration_ms"] / 1000)
    elif call_log.start_time and call_log.end_time:
        call_log.duration = max(0, round((call_log.end_time - call_log.start_time).total_seconds()))
    if call_log.start_time and call_log.end_time and call_log.end_time < call_log.start_time:
        call_log.end_time = call_log.start_time
    call_log.direction = "inbound" if call.get("direction") == "inbound" else "outbound"
    for field, key in (("from_number", "from_number"), ("to_number", "to_number"),
                       ("disconnection_reason", "disconnection_reason"), ("recording_url", "recording_url")):
        value = call.get(key)
        if isinstance(value, str) and value:
            setattr(call_log, field, value[: call_log._meta.get_field(field).max_length])
    call_log.is_ai_call = True


def _when(milliseconds):
    if isinstance(milliseconds, (int, float)) and milliseconds > 0:
        return datetime.datetime.fromtimestamp(milliseconds / 1000, tz=datetime.UTC)
    return None


def _store_transcript(gym, call_log, call):
    text = call.get("transcript") if isinstance(call.get("transcript"), str) else ""
    utterances = [
        {"role": "agent" if item.get("role") == "agent" else "user", "content": str(item.get("content", ""))}
        for item in call.get("transcript_object") or [] if isinstance(item, dict)
    ]
    if not text and not utterances:
        return
    CallTranscript.objects.update_or_create(
        call=call_log, defaults={"gym": gym, "content": text or "\n".join(
            f"{u['role'].title()}: {u['content']}" for u in utterances), "utterances": utterances},
    )


def _book_if_agreed(gym, lead, call_log, custom):
    """Book the appointment the lead agreed to, once per call, with a free sales person (or nobody).

    A time that is taken, or unreadable, is no failure: the call is marked for follow-up.
    """
    raw = custom.get("appointment_time")
    if not raw or Appointment.objects.for_gym(gym).filter(call=call_log).exists():
        return False
    try:
        start = parse_datetime(str(raw)) if isinstance(raw, str) else None
        start_utc = start.astimezone(datetime.UTC) if start is not None and not timezone.is_naive(start) else None
    except (ValueError, OverflowError):  # a date that does not exist, or out of range in UTC
        start_utc = None
    if start_utc is None:
        call_log.notes = f"The lead agreed to an appointment at {raw!r}, which is not a time with an offset."
        return False
    # The first free sales person; a gym without sales staff gets an unassigned appointment.
    staff = FIRST_FREE_SALES_PERSON if sales_staff(gym.pk) else None
    try:
        book_appointment(gym=gym, lead=lead, staff=staff, scheduled_time=start_utc, call=call_log,
                         title="Gym tour (booked by the AI agent)")
        return True
    except ValidationError as error:
        if "staff" not in getattr(error, "error_dict", {}):
            call_log.notes = f"The agreed appointment could not be booked: {'; '.join(error.messages)}"
            return False
    except AppointmentConflict:
        pass  # booked by someone else at the same moment
    call_log.notes = f"The lead agreed to {start_utc.isoformat()}, but no sales person is free then: follow up."
    return False


def _outcome(call_log, analysis, custom):
    if custom.get("wrong_number"):
        return CallOutcome.WRONG_NUMBER
    if analysis.get("in_voicemail") or call_log.disconnection_reason == "voicemail_reached":
        return CallOutcome.VOICEMAIL
    if call_log.status == CallStatus.NO_ANSWER or call_log.disconnection_reason in NO_ANSWER_REASONS:
        return CallOutcome.NO_ANSWER
    if Appointment.objects.for_gym(call_log.gym_id).filter(call=call_log).exists():
        return CallOutcome.APPOINTMENT_BOOKED
    if custom.get("appointment_time") or custom.get("follow_up"):
        return CallOutcome.FOLLOW_UP_NEEDED
    if custom.get("opted_out") or custom.get("not_interested"):
        return CallOutcome.NOT_INTERESTED
    if analysis and call_log.status == CallStatus.COMPLETED:
        return CallOutcome.OTHER
    return None
