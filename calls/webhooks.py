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
from typing import Any, NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from appointments.models import Appointment
from appointments.services import FIRST_FREE_SALES_PERSON, AppointmentConflict, book_appointment, sales_staff
from gyms.models import Gym, GymSettings, VoiceSettings
from leads.choices import LeadStatus
from leads.models import Lead
from reps.core.cache import VOICE_PLATFORM_FAILURE_KEY, everything, invalidate_after
from reps.core.metrics import VOICE_PLATFORM_FAILURES
from reps.core.phones import normalize_phone
from reps.tenancy.database import gym_of, gym_scope, gym_transaction, gyms_with_stuck_calls

from .choices import (
    DISCONNECTION_EFFECTS,
    PENDING_STATUSES,
    CallDirection,
    CallOutcome,
    CallStatus,
    WebhookStatus,
    platform_effect,
)
from .models import CallLog, CallTranscript, VoiceWebhookEvent
from .services import next_calling_time
from .voice import PlatformError, RetellClient

logger = logging.getLogger("reps.voice")

# Events that carry the call as the platform knows it, merged into our call log; every other event is
# recorded and changes nothing (status "ignored"). transcript_updated arrives many times per call.
APPLIED_EVENTS = {"call_started", "call_ended", "call_analyzed", "transcript_updated", "transfer_started",
                  "transfer_bridged", "transfer_cancelled", "transfer_ended"}
REPEATED_EVENTS = {"transcript_updated"}
VOICEMAIL = DISCONNECTION_EFFECTS["voicemail_reached"]
# How far along a call is: a status never moves back, except from one Reps guessed.
PROGRESS = {CallStatus.SCHEDULED: 0, CallStatus.IN_PROGRESS: 1, CallStatus.COMPLETED: 2,
            CallStatus.NO_ANSWER: 2, CallStatus.FAILED: 2}
CONTACTED_POINTS, BOOKED_POINTS = 10, 25  # engagement, as in the LeadV2 backfill
# A call failed by the platform's side is placed again this much later, at most PLATFORM_RETRIES times per
# lead in PLATFORM_RETRY_WINDOW (a number the telephony marks as spam is not dialled every hour for good).
PLATFORM_RETRY_DELAY = datetime.timedelta(hours=1)
PLATFORM_RETRIES, PLATFORM_RETRY_WINDOW = 3, datetime.timedelta(days=7)


class Resolved(NamedTuple):
    """An event and what it is about: the gym, lead and call log (locked) it belongs to, each None if unknown."""

    event: str
    call: dict[str, Any]
    call_id: str
    gym: Gym | None
    lead: Lead | None
    known: CallLog | None


def event_of(payload):
    """(event, call dict, call id) of a webhook body, or a ValidationError."""
    if not isinstance(payload, dict):
        raise ValidationError("The body must be a JSON object.")
    event = payload.get("event") or payload.get("event_type")
    call = payload.get("call")
    if not isinstance(event, str) or not event or len(event) > 50:
        raise ValidationError({"event": "Expected the event's name, e.g. call_ended."})
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
    functions; the rest is read inside that gym and locked. Runs inside a transaction.
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
            # Locked (the call log and its lead) until the event is applied: deleted under it, the event
            # would be applied elsewhere than where its signature was checked.
            calls = CallLog.objects.for_gym(gym).select_related("lead").select_for_update()
            known = calls.filter(retell_call_id=call["call_id"]).first()
            if known is not None:
                return gym, known.lead, known
            ours = _by_id(calls.filter(retell_call_id__isnull=True), metadata.get("call_log_id"))
            if ours is not None:
                return gym, ours.lead, ours
            leads = Lead.objects.for_gym(gym)
            # Not one of ours: the lead by their number.
            lead = _by_id(leads, metadata.get("lead_id")) or leads.find_by_phone(lead_number or "")
            return gym, lead and leads.select_for_update().filter(pk=lead.pk).first(), None
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


def resolve_event(payload: Any) -> Resolved:
    """What an event is about, decided once: its signature is checked with that gym's key, and the event
    applied there, in the same transaction, with the rows locked (resolve())."""
    event, call, call_id = event_of(payload)
    return Resolved(event, call, call_id, *resolve(call))


def signing_keys(gym: Gym | None) -> list[str]:
    """The API keys that may have signed an event of this gym: the gym's own, if it has one, then the default."""
    keys = []
    if gym is not None:
        with gym_scope(gym):
            own = VoiceSettings.objects.for_gym(gym).values_list("platform_api_key", flat=True).first()
        if own:
            keys.append(own)
    keys.append(settings.RETELL_API_KEY)
    return keys


def handle_event(resolved: Resolved, payload: dict[str, Any]) -> VoiceWebhookEvent | None:
    """Apply one resolved webhook event, once. Returns its VoiceWebhookEvent, or None for a repeat delivery.

    Runs in its caller's transaction (that of resolve_event()). The event is recorded with what is known
    of it in one insert: an event of no gym is written but, under row-level security, never read back by
    the application. An event that carries nothing to apply is recorded as ignored.
    """
    event, call, call_id, gym, lead, known = resolved
    with gym_scope(gym) if gym is not None else contextlib.nullcontext():
        record = VoiceWebhookEvent(platform_call_id=call_id, event=event, payload=payload, gym=gym)
        if lead is None:
            record.status = WebhookStatus.UNMATCHED
            record.note = ("No gym matches this call's numbers." if gym is None
                           else "No lead of the gym has this number.")
        elif event not in APPLIED_EVENTS:
            record.status = WebhookStatus.IGNORED
            record.note = f"{event} changes nothing here."
        try:
            with transaction.atomic():
                _insert(record)
        except IntegrityError:
            if event not in REPEATED_EVENTS or lead is None:
                return None  # delivered before: its first delivery was applied (or is, and this waited for it)
            record = VoiceWebhookEvent.objects.get(gym=gym, platform_call_id=call_id, event=event)
            record.payload = payload  # the latest of the event's many deliveries
            record.save(update_fields=["payload"])
        if lead is None:
            logger.warning("Voice webhook for an unknown call %s kept for review: %s", call_id, record.note)
            return record
        if record.status == WebhookStatus.IGNORED:
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
    """Merge the platform's call into ours; when it has just ended, apply what its ending means to the lead
    (DISCONNECTION_EFFECTS), once."""
    guessed = known is None or known.retell_call_id is None  # nothing heard from the platform about it yet
    call_log = _locked_call_log(gym, lead, known, call["call_id"])
    previous_status, previous_reason = call_log.status, call_log.disconnection_reason
    previous_moment = call_log.end_time or call_log.start_time
    analysis: dict[str, Any] = call["call_analysis"] if isinstance(call.get("call_analysis"), dict) else {}
    custom: dict[str, Any] = (analysis["custom_analysis_data"] if isinstance(analysis.get("custom_analysis_data"), dict)
                              else {})
    if analysis:
        call_log.summary = analysis.get("call_summary") or call_log.summary
        call_log.sentiment = analysis.get("user_sentiment") or call_log.sentiment
        call_log.analysis = {**call_log.analysis, **custom, "call_successful": analysis.get("call_successful"),
                             "in_voicemail": analysis.get("in_voicemail")}
    effect = platform_effect(call.get("call_status"), call.get("disconnection_reason"))
    # The analysis (call_analyzed, which follows call_ended) may find that the call reached a voicemail.
    if effect is not None and effect.status not in PENDING_STATUSES and call_log.analysis.get("in_voicemail") is True:
        effect = VOICEMAIL
    _merge(call_log, call, effect, guessed)
    # How the call ended, if it ended with this event (or the platform first spoke of a call Reps guessed).
    ended = (effect if effect is not None and call_log.status == effect.status
             and effect.status not in PENDING_STATUSES and (previous_status in PENDING_STATUSES or guessed) else None)
    # A call counted as a conversation when it ended, which its analysis then found was a voicemail.
    reached_before = previous_status == CallStatus.COMPLETED and getattr(
        DISCONNECTION_EFFECTS.get(previous_reason), "reached", True)
    undo_contact = effect is VOICEMAIL and ended is None and reached_before
    if undo_contact:
        call_log.status = VOICEMAIL.status
    if ended is not None:
        # An inbound call is the lead's own: it uses up none of the AI's attempts to call them.
        call_log.counts_as_attempt = ended.attempt and call_log.direction == CallDirection.OUTBOUND
    _store_transcript(gym, call_log, call)
    call_log.save()

    lead = Lead.objects.for_gym(gym).select_for_update().get(pk=lead.pk)
    lead_fields = set()
    if undo_contact:
        lead_fields |= _undo_contact(gym, lead, call_log, {previous_moment, call_log.end_time or call_log.start_time})
    if ended is not None and ended.reached:
        if lead.status == LeadStatus.NEW:
            lead.status = LeadStatus.CONTACTED
            lead_fields.add("status")
        lead.engagement_score = min(100, lead.engagement_score + CONTACTED_POINTS)
        lead_fields.add("engagement_score")
    moment = call_log.end_time or call_log.start_time
    if (effect is not None and effect.reached and call_log.status == CallStatus.COMPLETED and moment
            and (lead.last_interaction is None or moment > lead.last_interaction)):
        lead.last_interaction = moment
        lead_fields.add("last_interaction")
    if (custom.get("opted_out") or (effect is not None and effect.do_not_call)) and not lead.do_not_call:
        lead.do_not_call = True
        lead_fields.add("do_not_call")
    if ended is not None and ended.platform_failure:
        _platform_failed(gym, lead, call_log)
    booked = _book_if_agreed(gym, lead, call_log, custom)
    if booked:
        lead.engagement_score = min(100, lead.engagement_score + BOOKED_POINTS)
        lead_fields.add("engagement_score")
    if lead_fields:
        lead.save(update_fields=[*lead_fields, "updated_at"])
    call_log.outcome = _outcome(call_log, effect, analysis, custom) or call_log.outcome
    call_log.save(update_fields=["outcome", "notes", "updated_at"])
    if lead_fields or booked or call_log.status != previous_status:  # (not at each transcript update)
        invalidate_after(gym, everything())
    return call_log


def _undo_contact(gym, lead, call_log, moments_of_the_call):
    """Take back what a call counted as a conversation gave the lead; the fields changed."""
    others = CallLog.objects.for_gym(gym).filter(lead=lead, status=CallStatus.COMPLETED).exclude(pk=call_log.pk)
    lead.engagement_score = max(0, lead.engagement_score - CONTACTED_POINTS)
    fields = {"engagement_score"}
    if lead.status == LeadStatus.CONTACTED and not others.exists():
        lead.status = LeadStatus.NEW
        fields.add("status")
    if lead.last_interaction is not None and lead.last_interaction in moments_of_the_call:
        moments = [end or start for start, end in others.values_list("start_time", "end_time") if end or start]
        lead.last_interaction = max(moments, default=None)
        fields.add("last_interaction")
    return fields


def _platform_failed(gym, lead, call_log):
    """A call the account, the telephony or the platform failed: counted, warned of, and placed again later
    (without using up the lead's attempts), at most PLATFORM_RETRIES times a week."""
    reason = call_log.disconnection_reason or "error"
    VOICE_PLATFORM_FAILURES.labels(reason=reason[:50]).inc()
    with contextlib.suppress(Exception):
        cache.set(VOICE_PLATFORM_FAILURE_KEY, {"reason": reason, "at": timezone.now().isoformat()}, 3600)
    logger.error("Voice platform failed call %s of gym %s: %s", call_log.retell_call_id, gym.pk, reason)
    if call_log.direction != CallDirection.OUTBOUND:
        return
    calls = CallLog.objects.for_gym(gym).filter(lead=lead, is_ai_call=True)
    if calls.filter(status__in=PENDING_STATUSES).exclude(pk=call_log.pk).exists():
        return  # another call is queued already
    failed = calls.filter(status=CallStatus.FAILED, counts_as_attempt=False,
                          created_at__gte=timezone.now() - PLATFORM_RETRY_WINDOW).count()
    if failed > PLATFORM_RETRIES:
        call_log.notes = (f"Failed by the voice platform ({reason}) {failed} times this week: not queued again;"
                          " queue it when the platform is fixed.")
        return
    gym_settings = GymSettings.objects.for_gym(gym).get()
    start = next_calling_time(gym, gym_settings, timezone.now() + PLATFORM_RETRY_DELAY)
    CallLog.objects.create(gym=gym, lead=lead, campaign=call_log.campaign, is_ai_call=True,
                           status=CallStatus.SCHEDULED, start_time=start, to_number=lead.phone,
                           from_number=gym.phone)
    call_log.notes = f"Failed by the voice platform ({reason}): queued again for {start.isoformat()}."


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


def _merge(call_log, call, effect, guessed):
    """The platform's view of the call over ours; its status wins over a status Reps guessed."""
    if effect is not None and (guessed or PROGRESS[effect.status] > PROGRESS.get(call_log.status, 0)):
        call_log.status = effect.status
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
    for field in ("from_number", "to_number", "disconnection_reason"):
        value = call.get(field)
        if isinstance(value, str) and value:
            setattr(call_log, field, value[: call_log._meta.get_field(field).max_length])
    recording = call.get("recording_url")
    if isinstance(recording, str) and recording.startswith("https://"):  # a link to open, nothing else
        call_log.recording_url = recording[:call_log._meta.get_field("recording_url").max_length]
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
    content = text or "\n".join(f"{u['role'].title()}: {u['content']}" for u in utterances)
    # (The call log is locked: one event of the call at a time writes its transcript.)
    kept = CallTranscript.objects.for_gym(gym).filter(call=call_log).first()
    if kept is None:
        CallTranscript.objects.create(gym=gym, call=call_log, content=content, utterances=utterances)
    elif len(content) >= len(kept.content):  # else an earlier transcript_updated, delivered late
        kept.content, kept.utterances = content, utterances
        kept.save(update_fields=["content", "utterances", "updated_at"])


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


def _outcome(call_log, effect, analysis, custom):
    if custom.get("wrong_number"):
        return CallOutcome.WRONG_NUMBER
    if Appointment.objects.for_gym(call_log.gym_id).filter(call=call_log).exists():
        return CallOutcome.APPOINTMENT_BOOKED
    if call_log.analysis.get("in_voicemail") is True:
        return CallOutcome.VOICEMAIL
    if effect is not None and effect.outcome and effect.status not in PENDING_STATUSES:
        return effect.outcome
    if call_log.status == CallStatus.NO_ANSWER:
        return CallOutcome.NO_ANSWER
    if custom.get("appointment_time") or custom.get("follow_up"):
        return CallOutcome.FOLLOW_UP_NEEDED
    if custom.get("opted_out") or custom.get("not_interested"):
        return CallOutcome.NOT_INTERESTED
    if analysis and call_log.status == CallStatus.COMPLETED:
        return CallOutcome.OTHER
    return None


# Longer than the longest call (AISettings.max_call_minutes is at most 60) and the reports that follow it.
STUCK_AFTER = datetime.timedelta(minutes=75)
# A call the platform has not reported ended in a day will not be: a guess, which a later report corrects.
GIVE_UP_AFTER = datetime.timedelta(days=1)


def _give_up(call_log: CallLog) -> None:
    with gym_transaction(call_log.gym_id):
        CallLog.objects.for_gym(call_log.gym_id).filter(pk=call_log.pk, status__in=PENDING_STATUSES).update(
            status=CallStatus.FAILED, counts_as_attempt=False, updated_at=timezone.now(),
            notes="The voice platform never reported this call ended: check it there.")


def reconcile_stuck_calls(*, client: Any = None, now: datetime.datetime | None = None, limit: int = 100) -> int:
    """Ask the platform (get-call) about AI calls it took but never reported ended, and apply its answer as
    if its webhook had come (lost webhooks). A job over every gym, run with dispatch_calls (and by the
    calls.reconcile_stuck_calls task, one task per gym). Returns how many changed."""
    now = now or timezone.now()
    return sum(reconcile_gym_stuck_calls(gym_id, client=client, now=now, limit=limit)
               for gym_id in gyms_with_stuck_calls(now - STUCK_AFTER))


def reconcile_gym_stuck_calls(gym_id: uuid.UUID, *, client: Any = None, now: datetime.datetime | None = None,
                              limit: int = 100) -> int:
    """reconcile_stuck_calls() for one gym's calls."""
    now = now or timezone.now()
    changed = 0
    with gym_transaction(gym_id):
        stuck = list(CallLog.objects.for_gym(gym_id).select_related("gym__voice_settings").filter(
            is_ai_call=True, status__in=PENDING_STATUSES, retell_call_id__isnull=False,
            dispatched_at__lt=now - STUCK_AFTER).order_by("dispatched_at")[:limit])
    for call_log in stuck:
        if call_log.dispatched_at < now - GIVE_UP_AFTER:
            _give_up(call_log)
            continue
        platform_call = _ask_platform(call_log, client or RetellClient(
            api_key=call_log.gym.voice_settings.platform_api_key or None, timeout=10, retries=0))
        if platform_call is None:
            continue
        with gym_transaction(gym_id):
            gym, lead, known = resolve(platform_call)
            if known is not None and known.pk == call_log.pk:
                changed += _apply(gym, lead, known, platform_call).status != call_log.status
    return changed


def refresh_recording(call_log: CallLog, client: Any = None) -> str:
    """The call's recording link afresh from the platform (its links are signed and expire); "" when none."""
    own_key = VoiceSettings.objects.for_gym(call_log.gym_id).values_list("platform_api_key", flat=True).first()
    # Asked while a request waits (and holds its transaction): briefly, once.
    platform_call = _ask_platform(call_log, client or RetellClient(api_key=own_key or None, timeout=10, retries=0),
                                  quiet=False)
    recording = platform_call.get("recording_url") if platform_call else None
    if isinstance(recording, str) and recording.startswith("https://"):
        call_log.recording_url = recording[:call_log._meta.get_field("recording_url").max_length]
        CallLog.objects.for_gym(call_log.gym_id).filter(pk=call_log.pk).update(recording_url=call_log.recording_url)
    return call_log.recording_url


def _ask_platform(call_log: CallLog, client: Any, quiet: bool = True) -> dict[str, Any] | None:
    """get-call for one of our calls, or None (logged) when the platform does not answer with it."""
    try:
        platform_call = client.get_call(call_log.retell_call_id)
    except PlatformError as error:
        if not quiet:
            raise
        logger.warning("Voice platform: get-call for %s failed: %s", call_log.retell_call_id, error)
        return None
    if not isinstance(platform_call, dict) or platform_call.get("call_id") != call_log.retell_call_id:
        logger.warning("Voice platform: get-call for %s answered another call", call_log.retell_call_id)
        return None
    return platform_call
