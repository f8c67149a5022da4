"""Appointment notifications: planned from the appointments' outbox messages, sent when due.

plan_notifications turns one outbox message (booked, rescheduled, cancelled...) into Notification rows: a
notice now and reminders before the appointment, by email and by SMS, each with a key, so a message
delivered twice plans nothing twice; and it brings the appointment's reminders still to go in line with the
appointment as it is now (ended, moved, given to another lead: dropped; back as before: brought back).

send_due_notifications sends a gym's due notifications, each exactly once:
1. it claims them (status sending, attempts + 1: the claim's token, until claimed_until) under row locks
   other workers skip;
2. for each, it checks that it still holds the claim and holds it for the send; checks it again now (the
   lead's consent and do-not-call, the appointment still as the message says, the gym's channels and quiet
   hours); and writes down what it will say to whom, once;
3. it sends it, outside any transaction;
4. it records the outcome, unless another worker took the message over: sent, skipped, failed, or tried
   again later with a growing pause.
A worker that dies between 1 and 4 leaves the row sending; once its claim runs out the next worker takes
it, and before sending an SMS again asks the provider whether that text went out since the first attempt
(sms.find_sent, passing over the texts other notifications recorded). An email sent again has the same
Message-ID (the notification's id), by which mailboxes drop the repeat.
"""

import datetime
import logging
import smtplib
import uuid
from dataclasses import dataclass
from email.utils import formataddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import F
from django.utils import timezone

from appointments.choices import ACTIVE_STATUSES, AppointmentStatus
from appointments.models import Appointment
from gyms.models import Gym, GymSettings
from leads.models import Lead
from leads.services import record_consent
from reps.tenancy.database import gym_transaction
from reps.tenancy.services import gym_service

from . import sms
from .choices import Channel, Kind, NotificationStatus
from .models import (
    DEFAULT_TEMPLATES,
    EMAIL_MAX_CHARACTERS,
    SMS_MAX_CHARACTERS,
    Notification,
    NotificationTemplate,
    render,
)

logger = logging.getLogger(__name__)

CLOCK_SKEW = datetime.timedelta(minutes=1)  # between this machine's clock and the SMS provider's

# What each appointment event tells the lead now.
NOTICES = {"booked": Kind.CONFIRMATION, "scheduled": Kind.CONFIRMATION, "rescheduled": Kind.RESCHEDULED,
           "cancelled": Kind.CANCELLED}
# Why a reminder still to go is dropped: the appointment's status, or what changed.
DROPPED = {AppointmentStatus.CANCELLED: "The appointment was cancelled.",
           AppointmentStatus.NO_SHOW: "The appointment was missed.",
           AppointmentStatus.COMPLETED: "The appointment took place.",
           "moved": "The appointment was moved.", "lead": "The appointment is now another lead's."}


def gym_settings(gym: uuid.UUID) -> GymSettings:
    """The gym's settings row, or one of the defaults (a gym created without one)."""
    row: GymSettings | None = GymSettings.objects.for_gym(gym).first()
    return row if row is not None else GymSettings(gym_id=gym)


@dataclass
class GymRules:
    """What a batch of one gym's notifications is sent by, read once for the batch."""

    gym: Gym
    settings: GymSettings
    templates: dict[tuple[str, str], tuple[str, str]]  # the gym's own (subject, body) by (kind, channel)


def gym_rules(gym: uuid.UUID) -> GymRules:
    templates = {(row.kind, row.channel): (row.subject, row.body)
                 for row in NotificationTemplate.objects.for_gym(gym)}
    return GymRules(Gym.objects.get(pk=gym), gym_settings(gym), templates)


@gym_service
def plan_notifications(*, gym: uuid.UUID, message_id: Any, topic: str, payload: dict[str, Any],
                       now: datetime.datetime | None = None) -> int:
    """Plan what the outbox message about an appointment tells the lead, and bring the appointment's reminders
    in line with it as it is now; how many notifications it added.

    The reminders follow the appointment's state, not the message's: messages may come late (a retried
    delivery) or twice. A notice is about the time the message names; one about a time since changed, or a
    status since undone, is skipped when due (why_not_send).
    """
    now = now or timezone.now()
    event = topic.removeprefix("appointment.")
    appointment: Appointment | None = Appointment.objects.for_gym(gym).get_by_id(payload["appointment_id"])
    if appointment is None:
        return 0  # deleted: what it still had to send is skipped when due
    follow_appointment(gym, appointment, now)
    notice = NOTICES.get(event)
    if event == "rescheduled" and payload.get("previous_scheduled_time") == payload["scheduled_time"]:
        notice = None  # its staff member or end changed, not its time
    told = Notification.objects.for_gym(gym).filter(appointment=appointment, lead_id=appointment.lead_id)
    if event == "updated" and not told.exists():
        notice = Kind.CONFIRMATION  # given to another lead, who has heard nothing of it
    if event == "booked" and told.filter(kind=Kind.CONFIRMATION).exists():
        notice = None  # confirmed already, by an "updated" delivered before it
    planned = []
    settings_row = gym_settings(gym)
    for channel in Channel:
        common = {"gym_id": gym, "appointment": appointment, "lead_id": appointment.lead_id, "channel": channel}
        if notice is not None:
            planned.append(Notification(**common, kind=notice, key=f"{message_id}:{channel}", send_at=now,
                                        scheduled_time=datetime.datetime.fromisoformat(payload["scheduled_time"])))
        if appointment.status in ACTIVE_STATUSES:
            for minutes in settings_row.reminder_minutes_before:
                send_at = appointment.scheduled_time - datetime.timedelta(minutes=minutes)
                if send_at > now:  # booked later than this reminder would go: the confirmation says it all
                    planned.append(Notification(
                        **common, kind=Kind.REMINDER, scheduled_time=appointment.scheduled_time, send_at=send_at,
                        key=f"{appointment.pk}:{appointment.lead_id}:{appointment.scheduled_time.isoformat()}:"
                            f"{minutes}:{channel}"))
    known = set(Notification.objects.for_gym(gym).filter(key__in=[row.key for row in planned])
                .values_list("key", flat=True))
    new = [row for row in planned if row.key not in known]
    Notification.objects.bulk_create(new, ignore_conflicts=True)  # (a relay delivering it at the same moment)
    return len(new)


def follow_appointment(gym: uuid.UUID, appointment: Appointment, now: datetime.datetime) -> None:
    """Drop the appointment's reminders still to go that no longer fit it (ended, moved, another lead's), and
    bring back those dropped before that fit it again (reopened, moved back)."""
    reminders = Notification.objects.for_gym(gym).filter(appointment=appointment, kind=Kind.REMINDER)
    pending = reminders.filter(status=NotificationStatus.PENDING)
    skip = {"status": NotificationStatus.SKIPPED, "updated_at": now}
    if appointment.status not in ACTIVE_STATUSES:
        pending.update(**skip, reason=DROPPED[appointment.status])
        return
    pending.exclude(scheduled_time=appointment.scheduled_time).update(**skip, reason=DROPPED["moved"])
    pending.exclude(lead_id=appointment.lead_id).update(**skip, reason=DROPPED["lead"])
    (reminders.filter(status=NotificationStatus.SKIPPED, reason__in=DROPPED.values(), send_at__gt=now,
                      scheduled_time=appointment.scheduled_time, lead_id=appointment.lead_id)
     .update(status=NotificationStatus.PENDING, reason="", updated_at=now))


def why_not_send(notification: Notification, appointment: Appointment | None, lead: Lead,
                 settings_row: GymSettings, gym: Gym, now: datetime.datetime) -> str | None:
    """Why the notification is not to go (it is skipped), or None."""
    if lead.do_not_call:
        return "The lead asked not to be contacted."
    if notification.channel == Channel.EMAIL:
        if not settings_row.email_notifications:
            return "The gym sends no emails to leads."
        if not lead.email:
            return "The lead has no email address."
    else:
        if not settings_row.sms_notifications:
            return "The gym sends no text messages to leads."
        if lead.consent_given_at is None:
            return "The lead has not consented to calls and texts."
        if not (gym.phone or settings.SMS_FROM_NUMBER):
            return "The gym has no phone number to text from."
    if appointment is None:
        return "The appointment was deleted."
    if appointment.lead_id != notification.lead_id:
        return DROPPED["lead"]
    if appointment.scheduled_time != notification.scheduled_time:
        return "The appointment has moved since."
    if notification.kind == Kind.CANCELLED:
        return None if appointment.status == AppointmentStatus.CANCELLED else "The appointment was reopened."
    if appointment.status not in ACTIVE_STATUSES:
        return f"The appointment is {appointment.get_status_display().lower()}."
    if appointment.scheduled_time <= now:
        return "The appointment has started."
    return None


def quiet_hours_end(settings_row: GymSettings, gym: Gym, now: datetime.datetime) -> datetime.datetime | None:
    """When the gym's quiet hours end if `now` is inside them, else None."""
    start, end = settings_row.quiet_hours_start, settings_row.quiet_hours_end
    if start == end:
        return None
    local = now.astimezone(gym.tzinfo)
    clock = local.time()
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    # The first such wall-clock time after now: today's (either of the two, on the night the clocks go back) or
    # tomorrow's.
    for day, fold in ((local.date(), 0), (local.date(), 1), (local.date() + datetime.timedelta(days=1), 0)):
        ends = datetime.datetime.combine(day, end, gym.tzinfo).replace(fold=fold).astimezone(datetime.UTC)
        if ends > now:
            return ends
    raise AssertionError("quiet hours always end within a day")


def local_time(at: datetime.datetime, gym: Gym) -> dict[str, str]:
    local = at.astimezone(gym.tzinfo)
    date, time = f"{local:%A} {local.day} {local:%B}", f"{local:%H:%M}"
    return {"when": f"{date} at {time}", "date": date, "time": time}


def message_context(appointment: Appointment, lead: Lead, gym: Gym) -> dict[str, Any]:
    """What a template can name (models.EXAMPLE_CONTEXT): plain values only, never the rows themselves."""
    branch, staff = appointment.branch, appointment.staff
    return {
        "gym": {"name": gym.name, "phone": gym.phone, "email": gym.email, "website": gym.website},
        "lead": {"first_name": lead.first_name, "last_name": lead.last_name},
        "appointment": {"title": appointment.title, "description": appointment.description,
                        **local_time(appointment.scheduled_time, gym)},
        "branch": {"name": branch.name, "address": branch.address, "city": branch.city} if branch else {},
        "staff": {"name": staff.get_full_name() if hasattr(staff, "get_full_name") else str(staff)} if staff else {},
    }


def write_message(notification: Notification, appointment: Appointment, lead: Lead, rules: GymRules) -> None:
    """Fill in to, subject and body from the gym's template for this kind and channel, or the default."""
    kind_and_channel = (notification.kind, notification.channel)
    subject, body = rules.templates.get(kind_and_channel) or DEFAULT_TEMPLATES[kind_and_channel]
    context = message_context(appointment, lead, rules.gym)
    email = notification.channel == Channel.EMAIL
    notification.to = lead.email if email else lead.phone
    notification.subject = " ".join(render(subject, context).split())[:255]
    notification.body = render(body, context).strip()[:EMAIL_MAX_CHARACTERS if email else SMS_MAX_CHARACTERS]


def retry_pause(attempts: int) -> datetime.timedelta:
    return datetime.timedelta(seconds=min(settings.NOTIFICATION_RETRY_SECONDS * 2 ** (attempts - 1), 3600))


def lease(now: datetime.datetime) -> datetime.datetime:
    """Until when a claim made `now` holds (renewed just before each send: a batch may take a while)."""
    return max(now, timezone.now()) + datetime.timedelta(seconds=settings.NOTIFICATION_CLAIM_SECONDS)


@gym_service(atomic=False)  # claims, checks and records in transactions; sending happens between them
def send_due_notifications(*, gym: uuid.UUID, limit: int = 50, now: datetime.datetime | None = None) -> dict[str, int]:
    """Send up to `limit` of the gym's due notifications, earliest first; counts by outcome."""
    now = now or timezone.now()
    counts = {"sent": 0, "skipped": 0, "deferred": 0, "retried": 0, "failed": 0, "taken over": 0}
    with gym_transaction(gym):
        claimed = list(Notification.objects.for_gym(gym).due(now).select_for_update(skip_locked=True)
                       .order_by("send_at")[:limit])
        Notification.objects.for_gym(gym).filter(pk__in=[row.pk for row in claimed]).update(
            status=NotificationStatus.SENDING, attempts=F("attempts") + 1, claimed_until=lease(now), updated_at=now)
        if not claimed:
            return counts
        rules = gym_rules(gym)
    backend = sms.get_backend() if any(row.channel == Channel.SMS for row in claimed) else None
    for notification in claimed:
        notification.attempts += 1  # this claim's token: a worker that took it over since has another
        try:
            outcome = send_notification(gym, notification, backend, now, rules)
        except Exception as error:  # one message's trouble is its own, never the rest of the batch's
            logger.exception("notification %s could not be sent", notification.pk)
            outcome = record_failure(gym, notification, now, f"{type(error).__name__}: {error}")
        counts[outcome] += 1
    return counts


def send_notification(gym: uuid.UUID, notification: Notification, backend: Any, now: datetime.datetime,
                      rules: GymRules) -> str:
    """Check, send and record one claimed notification; the outcome's name."""
    with gym_transaction(gym):
        prepared = prepare(gym, notification, now, rules)
        if isinstance(prepared, str):
            return prepared
    notification = prepared.notification  # as it is now, with what it says
    try:
        provider_id = deliver(prepared, backend)
    except sms.SmsError as error:
        return record_failure(gym, notification, now, str(error), permanent=error.permanent,
                              opted_out=error.opted_out)
    except smtplib.SMTPRecipientsRefused as error:
        return record_failure(gym, notification, now, f"the mail server refused the address: {error}",
                              permanent=True)
    except ValueError as error:  # BadHeaderError: an address or name no email can carry
        return record_failure(gym, notification, now, f"not an email: {error}", permanent=True)
    except (smtplib.SMTPException, OSError) as error:
        return record_failure(gym, notification, now, f"the mail server: {type(error).__name__}: {error}")
    finish(gym, notification, status=NotificationStatus.SENT, sent_at=timezone.now(), provider_id=provider_id,
           reason="")
    return "sent"


@dataclass
class Prepared:
    notification: Notification
    tried_before: bool  # an earlier attempt may have sent it
    from_: str = ""  # the SMS's number
    sender_name: str = ""  # the email's
    reply_to: str = ""
    recorded: frozenset[str] = frozenset()  # the SMS ids other notifications to this number recorded


def prepare(gym: uuid.UUID, notification: Notification, now: datetime.datetime, rules: GymRules) -> Prepared | str:
    """In the gym's transaction: make sure this worker still holds the claim and hold it for the send; skip it,
    put it off till the quiet hours end, or write once what it will say."""
    held: Notification | None = (Notification.objects.for_gym(gym).select_for_update()
                                 .filter(pk=notification.pk, status=NotificationStatus.SENDING,
                                         attempts=notification.attempts).first())
    if held is None:  # this batch took longer than its claim, and another worker has taken the message over
        return "taken over"
    Notification.objects.for_gym(gym).filter(pk=held.pk).update(claimed_until=lease(now))
    lead: Lead = Lead.objects.for_gym(gym).get(pk=held.lead_id)
    appointment: Appointment | None = (Appointment.objects.for_gym(gym).select_related("branch", "staff")
                                       .get_by_id(held.appointment_id) if held.appointment_id else None)
    settings_row, gym_row = rules.settings, rules.gym
    reason = why_not_send(held, appointment, lead, settings_row, gym_row, now)
    if reason is not None:
        finish(gym, held, status=NotificationStatus.SKIPPED, reason=reason)
        return "skipped"
    quiet_until = quiet_hours_end(settings_row, gym_row, now)
    if quiet_until is not None:
        assert appointment is not None
        if held.kind != Kind.CANCELLED and quiet_until >= appointment.scheduled_time:
            finish(gym, held, status=NotificationStatus.SKIPPED,
                   reason="The gym's quiet hours last until the appointment.")
            return "skipped"
        finish(gym, held, status=NotificationStatus.PENDING, send_at=quiet_until, attempts=held.attempts - 1,
               reason="Put off until the gym's quiet hours end.")
        return "deferred"
    assert appointment is not None
    tried_before = held.first_attempt_at is not None
    if not tried_before:  # the first attempt: what every attempt sends
        try:
            write_message(held, appointment, lead, rules)
        except Exception as error:  # a template that fails on these values (the API tried it on examples)
            finish(gym, held, status=NotificationStatus.FAILED,
                   reason=f"The gym's template fails on this appointment: {type(error).__name__}: {error}"[:2000])
            return "failed"
        held.first_attempt_at = timezone.now()
        Notification.objects.for_gym(gym).filter(pk=held.pk).update(
            to=held.to, subject=held.subject, body=held.body, first_attempt_at=held.first_attempt_at)
    recorded = frozenset(Notification.objects.for_gym(gym).filter(channel=Channel.SMS, to=held.to)
                         .exclude(pk=held.pk).exclude(provider_id="").values_list("provider_id", flat=True)
                         ) if tried_before and held.channel == Channel.SMS else frozenset()
    return Prepared(held, tried_before, from_=gym_row.phone or settings.SMS_FROM_NUMBER,
                    sender_name=" ".join(gym_row.name.split()), reply_to=gym_row.email, recorded=recorded)


def deliver(prepared: Prepared, backend: Any) -> str:
    """Send it; the provider's id for it. An SMS tried before is first looked for at the provider."""
    notification = prepared.notification
    if notification.channel == Channel.SMS:
        if prepared.tried_before:
            assert notification.first_attempt_at is not None
            found = backend.find_sent(to=notification.to, from_=prepared.from_, body=notification.body,
                                      since=notification.first_attempt_at - CLOCK_SKEW, exclude=prepared.recorded)
            if found is not None:
                logger.info("notification %s was sent before its worker stopped (%s)", notification.pk, found)
                return str(found)
        return str(backend.send(to=notification.to, from_=prepared.from_, body=notification.body))
    message_id = f"<{notification.pk}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"
    EmailMessage(notification.subject, notification.body, to=[notification.to],
                 from_email=formataddr((prepared.sender_name, settings.DEFAULT_FROM_EMAIL)),
                 reply_to=[prepared.reply_to] if prepared.reply_to else None,
                 headers={"Message-ID": message_id}).send()
    return message_id


def record_failure(gym: uuid.UUID, notification: Notification, now: datetime.datetime, error: str, *,
                   permanent: bool = False, opted_out: bool = False) -> str:
    logger.warning("notification %s (%s by %s): %s", notification.pk, notification.kind, notification.channel, error)
    if opted_out:  # the lead replied STOP to the gym's texts: no more texts, nor AI calls
        record_consent(gym=gym, lead_id=notification.lead_id, actor=None, consent=False)
        finish(gym, notification, status=NotificationStatus.SKIPPED, reason=f"The lead opted out: {error}")
        return "skipped"
    if permanent or notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
        finish(gym, notification, status=NotificationStatus.FAILED, reason=error[:2000])
        return "failed"
    finish(gym, notification, status=NotificationStatus.PENDING, reason=error[:2000],
           send_at=now + retry_pause(notification.attempts))
    return "retried"


def finish(gym: uuid.UUID, notification: Notification, **changes: Any) -> None:
    """Write the outcome of this attempt and release the claim, unless another worker has taken it over."""
    with gym_transaction(gym):
        Notification.objects.for_gym(gym).filter(pk=notification.pk, status=NotificationStatus.SENDING,
                                                 attempts=notification.attempts).update(
            **changes, claimed_until=None, updated_at=timezone.now())
