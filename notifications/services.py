"""Appointment notifications: planned from the appointments' outbox messages, sent when due.

plan_notifications turns one outbox message (booked, rescheduled, cancelled...) into Notification rows: a
notice now and reminders before the appointment, by email and by SMS, each with a key, so a message
delivered twice plans nothing twice. Moving or ending an appointment skips its reminders still to go.

send_due_notifications sends a gym's due notifications, each exactly once:
1. it claims them (status sending until claimed_until) under row locks other workers skip;
2. it checks each again now (the lead's consent and do-not-call, the appointment still as the message
   says, the gym's channels and quiet hours) and writes down what it will say to whom, once;
3. it sends it, outside any transaction;
4. it records the outcome: sent, skipped, failed, or tried again later with a growing pause.
A worker that dies between 1 and 4 leaves the row sending; once its claim runs out the next worker takes
it, and before sending an SMS again asks the provider whether that text went out (sms.find_sent). An email
sent again has the same Message-ID (the notification's id), by which mailboxes drop the repeat.
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
from .choices import OPEN_STATUSES, Channel, Kind, NotificationStatus
from .models import DEFAULT_TEMPLATES, SMS_MAX_CHARACTERS, Notification, NotificationTemplate, render

logger = logging.getLogger(__name__)

# What each appointment event sends now (reminders are planned on booked, rescheduled and reopened).
NOTICES = {"booked": Kind.CONFIRMATION, "scheduled": Kind.CONFIRMATION, "rescheduled": Kind.RESCHEDULED,
           "cancelled": Kind.CANCELLED}
PLANS_REMINDERS = {"booked", "scheduled", "rescheduled"}
# After these the reminders still to go are skipped (the reason given).
ENDS_REMINDERS = {"rescheduled": "The appointment was moved.", "cancelled": "The appointment was cancelled.",
                  "no_show": "The appointment was missed.", "completed": "The appointment took place.",
                  "deleted": "The appointment was deleted."}


def gym_settings(gym: uuid.UUID) -> GymSettings:
    """The gym's settings row, or one of the defaults (a gym created without one)."""
    row: GymSettings | None = GymSettings.objects.for_gym(gym).first()
    return row if row is not None else GymSettings(gym_id=gym)


@gym_service
def plan_notifications(*, gym: uuid.UUID, message_id: Any, topic: str, payload: dict[str, Any],
                       now: datetime.datetime | None = None) -> int:
    """Plan what the outbox message about an appointment sends; how many notifications it added."""
    now = now or timezone.now()
    event = topic.removeprefix("appointment.")
    if event in ENDS_REMINDERS:
        (Notification.objects.for_gym(gym)
         .filter(appointment_id=payload["appointment_id"], kind=Kind.REMINDER, status=NotificationStatus.PENDING)
         .update(status=NotificationStatus.SKIPPED, reason=ENDS_REMINDERS[event], updated_at=now))
    appointment: Appointment | None = Appointment.objects.for_gym(gym).get_by_id(payload["appointment_id"])
    if appointment is None or (event not in NOTICES and event not in PLANS_REMINDERS):
        return 0
    planned = []
    settings_row = gym_settings(gym)
    for channel in Channel:
        common = {"gym_id": gym, "appointment": appointment, "lead_id": appointment.lead_id, "channel": channel}
        if event in NOTICES:
            # The appointment's time as the message saw it: a notice about a time since changed is skipped.
            at = datetime.datetime.fromisoformat(payload["scheduled_time"])
            planned.append(Notification(**common, kind=NOTICES[event], key=f"{message_id}:{channel}",
                                        scheduled_time=at, send_at=now))
        if event in PLANS_REMINDERS and appointment.status in ACTIVE_STATUSES:
            for minutes in settings_row.reminder_minutes_before:
                send_at = appointment.scheduled_time - datetime.timedelta(minutes=minutes)
                if send_at > now:  # booked later than this reminder would go: the confirmation says it all
                    planned.append(Notification(
                        **common, kind=Kind.REMINDER, scheduled_time=appointment.scheduled_time, send_at=send_at,
                        key=f"{appointment.pk}:{appointment.scheduled_time.isoformat()}:{minutes}:{channel}"))
    created = Notification.objects.bulk_create(planned, ignore_conflicts=True, unique_fields=["gym", "key"])
    return len([row for row in created if row.pk is not None])


@dataclass
class Prepared:
    notification: Notification
    from_: str = ""  # the SMS's number
    sender_name: str = ""  # the email's
    reply_to: str = ""


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
    day = local.date() if clock < end else local.date() + datetime.timedelta(days=1)
    return datetime.datetime.combine(day, end, gym.tzinfo)


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


def write_message(notification: Notification, appointment: Appointment, lead: Lead, gym: Gym) -> None:
    """Fill in to, subject and body from the gym's template for this kind and channel, or the default."""
    template = NotificationTemplate.objects.for_gym(gym.pk).filter(
        kind=notification.kind, channel=notification.channel).first()
    subject, body = ((template.subject, template.body) if template is not None
                     else DEFAULT_TEMPLATES[(notification.kind, notification.channel)])
    context = message_context(appointment, lead, gym)
    notification.to = lead.email if notification.channel == Channel.EMAIL else lead.phone
    notification.subject = " ".join(render(subject, context).split())[:255]
    notification.body = render(body, context).strip()[:SMS_MAX_CHARACTERS if notification.channel == Channel.SMS
                                                      else None]


def retry_pause(attempts: int) -> datetime.timedelta:
    return datetime.timedelta(seconds=min(settings.NOTIFICATION_RETRY_SECONDS * 2 ** (attempts - 1), 3600))


@gym_service(atomic=False)  # claims, checks and records in transactions; sending happens between them
def send_due_notifications(*, gym: uuid.UUID, limit: int = 50, now: datetime.datetime | None = None) -> dict[str, int]:
    """Send up to `limit` of the gym's due notifications, earliest first; counts by outcome."""
    now = now or timezone.now()
    counts = {"sent": 0, "skipped": 0, "deferred": 0, "retried": 0, "failed": 0}
    with gym_transaction(gym):
        claimed = list(Notification.objects.for_gym(gym).due(now).select_for_update(skip_locked=True)
                       .order_by("send_at")[:limit])
        Notification.objects.for_gym(gym).filter(pk__in=[row.pk for row in claimed]).update(
            status=NotificationStatus.SENDING, attempts=F("attempts") + 1, updated_at=now,
            claimed_until=now + datetime.timedelta(seconds=settings.NOTIFICATION_CLAIM_SECONDS))
    backend = sms.get_backend() if any(row.channel == Channel.SMS for row in claimed) else None
    for notification in claimed:
        notification.attempts += 1
        outcome = send_notification(gym, notification, backend, now)
        counts[outcome] += 1
    return counts


def send_notification(gym: uuid.UUID, notification: Notification, backend: Any, now: datetime.datetime) -> str:
    """Check, send and record one claimed notification; the outcome's name."""
    with gym_transaction(gym):
        prepared = prepare(gym, notification, now)
        if isinstance(prepared, str):
            return prepared
    try:
        provider_id = deliver(prepared, backend)
    except sms.SmsError as error:
        return record_failure(gym, notification, now, str(error), permanent=error.permanent,
                              opted_out=error.opted_out)
    except smtplib.SMTPRecipientsRefused as error:
        return record_failure(gym, notification, now, f"the mail server refused the address: {error}",
                              permanent=True)
    except (smtplib.SMTPException, OSError) as error:
        return record_failure(gym, notification, now, f"the mail server: {type(error).__name__}: {error}")
    finish(gym, notification, status=NotificationStatus.SENT, sent_at=timezone.now(), provider_id=provider_id,
           reason="")
    return "sent"


def prepare(gym: uuid.UUID, notification: Notification, now: datetime.datetime) -> Prepared | str:
    """In the gym's transaction: skip it, put it off till the quiet hours end, or write what it will say."""
    lead: Lead = Lead.objects.for_gym(gym).get(pk=notification.lead_id)
    appointment: Appointment | None = (Appointment.objects.for_gym(gym).select_related("branch", "staff")
                                       .get_by_id(notification.appointment_id) if notification.appointment_id else None)
    settings_row, gym_row = gym_settings(gym), Gym.objects.get(pk=gym)
    reason = why_not_send(notification, appointment, lead, settings_row, gym_row, now)
    if reason is not None:
        finish(gym, notification, status=NotificationStatus.SKIPPED, reason=reason)
        return "skipped"
    quiet_until = quiet_hours_end(settings_row, gym_row, now)
    if quiet_until is not None:
        assert appointment is not None
        if notification.kind != Kind.CANCELLED and quiet_until >= appointment.scheduled_time:
            finish(gym, notification, status=NotificationStatus.SKIPPED,
                   reason="The gym's quiet hours last until the appointment.")
            return "skipped"
        finish(gym, notification, status=NotificationStatus.PENDING, send_at=quiet_until,
               attempts=notification.attempts - 1, reason="Put off until the gym's quiet hours end.")
        return "deferred"
    assert appointment is not None
    if not notification.body:  # the first attempt: what every attempt sends
        write_message(notification, appointment, lead, gym_row)
        Notification.objects.for_gym(gym).filter(pk=notification.pk).update(
            to=notification.to, subject=notification.subject, body=notification.body, updated_at=now)
    return Prepared(notification, from_=gym_row.phone or settings.SMS_FROM_NUMBER, sender_name=gym_row.name,
                    reply_to=gym_row.email)


def deliver(prepared: Prepared, backend: Any) -> str:
    """Send it; the provider's id for it. An SMS tried before is first looked for at the provider."""
    notification = prepared.notification
    if notification.channel == Channel.SMS:
        if notification.attempts > 1:
            found = backend.find_sent(to=notification.to, from_=prepared.from_, body=notification.body,
                                      since=notification.created_at)
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
    """Write the outcome of this attempt and release the claim."""
    with gym_transaction(gym):
        Notification.objects.for_gym(gym).filter(pk=notification.pk, status__in=OPEN_STATUSES).update(
            **changes, claimed_until=None, updated_at=timezone.now())
