import re
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.template import Context, Engine, TemplateSyntaxError

from reps.core.models import TenantModel
from reps.tenancy.queryset import TenantManager

from .choices import OPEN_STATUSES, Channel, Kind, NotificationStatus
from .querysets import NotificationQuerySet

# A gym's template is a small part of Django's template language: values, a few filters and conditions. Nothing
# that reaches outside the message ({% include %}, {% extends %}, {% load %}, {% debug %}: the context and the
# loaded modules), no loops (the context has no lists; nested loops over a string ran for seconds) and no
# filter that makes output of a size it is told (ljust:"30000000").
TEMPLATE_ENGINE = Engine(dirs=[], app_dirs=False, loaders=[], libraries={})
ALLOWED_TAGS = {"if", "elif", "else", "endif", "firstof", "comment", "endcomment", "now"}
ALLOWED_FILTERS = {"default", "default_if_none", "upper", "lower", "title", "capfirst", "truncatechars",
                   "truncatewords", "yesno"}
SMS_MAX_CHARACTERS = 1600  # the SMS provider's limit for one message (it splits it into segments)
EMAIL_MAX_CHARACTERS = 20_000

# What a template can name, with an example of each (the API's documentation, and what a template is tried on).
EXAMPLE_CONTEXT = {
    "gym": {"name": "Iron Temple", "phone": "+14155550100", "email": "front@irontemple.example",
            "website": "https://irontemple.example"},
    "lead": {"first_name": "Sam", "last_name": "Lee"},
    "appointment": {"title": "Gym tour", "when": "Tuesday 1 December at 18:00", "date": "Tuesday 1 December",
                    "time": "18:00", "description": "Bring trainers."},
    "branch": {"name": "Downtown", "address": "1 Main Street", "city": "Springfield"},
    "staff": {"name": "Alex Kim"},
}

DEFAULT_TEMPLATES: dict[tuple[str, str], tuple[str, str]] = {  # (kind, channel): (subject, body)
    (Kind.CONFIRMATION, Channel.EMAIL): (
        "You're booked: {{ appointment.title }} at {{ gym.name }}",
        "Hi {{ lead.first_name|default:'there' }},\n\nYou're booked for {{ appointment.title }} at {{ gym.name }}"
        " on {{ appointment.when }}{% if branch.name %}, at {{ branch.name }}{% if branch.address %}"
        " ({{ branch.address }}){% endif %}{% endif %}.{% if staff.name %} {{ staff.name }} will meet you."
        "{% endif %}\n\nSee you then!\n{{ gym.name }}{% if gym.phone %}\n{{ gym.phone }}{% endif %}\n"),
    (Kind.CONFIRMATION, Channel.SMS): (
        "", "{{ gym.name }}: you're booked for {{ appointment.title }} on {{ appointment.when }}."
            " Reply STOP to opt out."),
    (Kind.REMINDER, Channel.EMAIL): (
        "Reminder: {{ appointment.title }} at {{ gym.name }}, {{ appointment.when }}",
        "Hi {{ lead.first_name|default:'there' }},\n\nA reminder that your {{ appointment.title }} at"
        " {{ gym.name }} is on {{ appointment.when }}{% if branch.name %}, at {{ branch.name }}{% endif %}.\n\n"
        "Can't make it? Let us know{% if gym.phone %} at {{ gym.phone }}{% endif %}.\n{{ gym.name }}\n"),
    (Kind.REMINDER, Channel.SMS): (
        "", "{{ gym.name }}: reminder, your {{ appointment.title }} is on {{ appointment.when }}."
            " Reply STOP to opt out."),
    (Kind.RESCHEDULED, Channel.EMAIL): (
        "Moved: {{ appointment.title }} at {{ gym.name }} is now {{ appointment.when }}",
        "Hi {{ lead.first_name|default:'there' }},\n\nYour {{ appointment.title }} at {{ gym.name }} has moved"
        " to {{ appointment.when }}.\n\nSee you then!\n{{ gym.name }}\n"),
    (Kind.RESCHEDULED, Channel.SMS): (
        "", "{{ gym.name }}: your {{ appointment.title }} has moved to {{ appointment.when }}."
            " Reply STOP to opt out."),
    (Kind.CANCELLED, Channel.EMAIL): (
        "Cancelled: {{ appointment.title }} at {{ gym.name }}",
        "Hi {{ lead.first_name|default:'there' }},\n\nYour {{ appointment.title }} at {{ gym.name }} on"
        " {{ appointment.when }} has been cancelled.{% if gym.phone %} Call us at {{ gym.phone }} to book"
        " another time.{% endif %}\n\n{{ gym.name }}\n"),
    (Kind.CANCELLED, Channel.SMS): (
        "", "{{ gym.name }}: your {{ appointment.title }} on {{ appointment.when }} has been cancelled."
            " Reply STOP to opt out."),
}


def render(source: str, context: dict[str, Any]) -> str:
    return TEMPLATE_ENGINE.from_string(source).render(Context(context, autoescape=False))


def check_template(source: str, field: str) -> None:
    """Raise a ValidationError naming `field` unless `source` is a template of the allowed language."""
    for tag in re.findall(r"{%-?\s*(\w+)", source):
        if tag not in ALLOWED_TAGS:
            raise ValidationError({field: f"{{% {tag} %}} is not allowed in a message template; allowed tags: "
                                          f"{', '.join(sorted(ALLOWED_TAGS))}."})
    for name in re.findall(r"\|\s*(\w+)", source):
        if name not in ALLOWED_FILTERS:
            raise ValidationError({field: f"The filter {name} is not allowed in a message template; allowed: "
                                          f"{', '.join(sorted(ALLOWED_FILTERS))}."})
    try:
        render(source, EXAMPLE_CONTEXT)
    except TemplateSyntaxError as error:
        raise ValidationError({field: f"Not a valid template: {error}"}) from None
    except Exception as error:  # a filter's argument it cannot take, say: it would fail every message too
        raise ValidationError({field: f"The template fails on the example values: {type(error).__name__}:"
                                      f" {error}"}) from None


class NotificationTemplate(TenantModel):
    """A gym's own wording of one kind of message on one channel, instead of the default (DEFAULT_TEMPLATES)."""

    kind = models.CharField(max_length=20, choices=Kind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    subject = models.CharField(max_length=255, blank=True, help_text="Email only.")
    body = models.TextField(max_length=4000)

    class Meta:
        ordering = ["kind", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["gym", "kind", "channel"], name="notificationtemplate_gym_kind_channel",
                                    violation_error_message="This gym already has a template for this kind of"
                                                            " message on this channel."),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} by {self.get_channel_display()}"

    def clean(self):
        super().clean()
        if self.channel == Channel.SMS and self.subject:
            raise ValidationError({"subject": "A text message has no subject."})
        if self.channel == Channel.EMAIL and not self.subject.strip():
            raise ValidationError({"subject": "An email needs a subject."})
        if self.channel == Channel.SMS and len(self.body) > SMS_MAX_CHARACTERS:
            raise ValidationError({"body": f"A text message has at most {SMS_MAX_CHARACTERS} characters."})
        check_template(self.subject, "subject")
        check_template(self.body, "body")


class Notification(TenantModel):
    """One message to one lead about one appointment on one channel, sent at most once.

    `key` names what it is for (the outbox message that announced the change, or the appointment's time and
    the reminder's offset), unique in the gym: planning it again finds the same row. It is claimed for
    sending (status sending until claimed_until), so a worker that dies mid-send leaves it to the next one,
    which first asks the provider whether it went out (services.send_notification).
    """

    appointment = models.ForeignKey("appointments.Appointment", on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="notifications")
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    key = models.CharField(max_length=200, help_text="What it is for; one notification per key in a gym.")
    scheduled_time = models.DateTimeField(help_text="The appointment's time this message is about.")
    send_at = models.DateTimeField(help_text="Not sent before then.")
    status = models.CharField(max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    # Where it went and what it said, written when it is first claimed, so a retry sends the same message.
    to = models.CharField(max_length=255, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Claims by a worker; also the claim's token.")
    first_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When it was first sent, or tried.")
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(max_length=255, blank=True, help_text="The email's Message-ID or the SMS's id.")
    reason = models.TextField(blank=True, help_text="Why it was skipped or failed, or its last error.")

    objects: ClassVar[Any] = TenantManager.from_queryset(NotificationQuerySet)()

    class Meta:
        ordering = ["-send_at"]
        constraints = [
            models.UniqueConstraint(fields=["gym", "key"], name="notification_gym_key"),
        ]
        indexes = [
            models.Index(fields=["gym", "send_at"], condition=Q(status__in=OPEN_STATUSES), name="notification_due_idx"),
            models.Index(fields=["appointment", "-send_at"], name="notification_appointment_idx"),
            models.Index(fields=["lead", "-send_at"], name="notification_lead_idx"),
            # The platform admin's list of every gym's notifications, the latest first.
            models.Index(fields=["-send_at", "-id"], name="notification_send_id_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} by {self.get_channel_display()} ({self.status})"
