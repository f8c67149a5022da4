import datetime
import zoneinfo
from decimal import Decimal
from typing import Any, ClassVar

import phonenumbers
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from reps.core.models import BaseModel, TenantModel, phone_check, same_gym_key
from reps.tenancy.queryset import TenantManager

from .querysets import KnowledgeBaseEntryQuerySet, knowledge_base_document


def validate_timezone(value):
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            "%(value)s is not an IANA time zone name, like Europe/London.",
            code="invalid_timezone",
            params={"value": value},
        )


def validate_country_code(value):
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            "%(value)s is not a two-letter country code, like US or GB.",
            code="invalid_country",
            params={"value": value},
        )


MAX_REMINDERS = 5
MAX_REMINDER_MINUTES = 7 * 24 * 60  # a week


def default_reminder_minutes():
    return [24 * 60, 120]


def validate_reminder_minutes(value):
    if len(value) > MAX_REMINDERS:
        raise ValidationError(f"At most {MAX_REMINDERS} reminders.", code="too_many_reminders")
    if len(set(value)) != len(value):
        raise ValidationError("Each reminder must be at a different time.", code="duplicate_reminders")
    if any(not 5 <= minutes <= MAX_REMINDER_MINUTES for minutes in value):
        raise ValidationError(f"A reminder goes out between 5 and {MAX_REMINDER_MINUTES:,} minutes (a week) before"
                              " the appointment.", code="reminder_range")


class Gym(BaseModel):
    """The tenant: every other business row belongs to exactly one gym."""

    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    email = models.EmailField(max_length=255, blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164; the number the voice agent calls from.")
    website = models.URLField(max_length=255, blank=True)
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        help_text="IANA name; 'per day' figures use this gym's local day.",
    )
    country_code = models.CharField(
        max_length=2,
        default="US",
        validators=[validate_country_code],
        help_text="ISO 3166 code; the default region for phone numbers written without a country code.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(country_code__regex=r"^[A-Z]{2}$"),
                name="gym_country_code_iso",
                violation_error_message="The country code must be two capital letters.",
            ),
            phone_check("gym"),
            # A gym's calling number: another gym's would take its inbound calls and call out in its name.
            models.UniqueConstraint(fields=["phone"], condition=~Q(phone=""), name="gym_phone_unique",
                                    violation_error_message="Another gym calls from this number."),
        ]

    phone_fields = ("phone",)

    def __str__(self):
        return self.name

    @property
    def tzinfo(self):
        return zoneinfo.ZoneInfo(self.timezone)

    def phone_region(self):
        return self.country_code


class Branch(TenantModel):
    """A location of a gym."""

    name = models.CharField(max_length=255)
    address = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    zip_code = models.CharField(max_length=20, blank=True)
    phone = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "branches"
        constraints = [same_gym_key("branch"), phone_check("branch")]

    phone_fields = ("phone",)

    def __str__(self):
        return self.name


class GymSettings(TenantModel):
    """Scheduling and calling rules of one gym."""

    gym = models.OneToOneField(Gym, on_delete=models.CASCADE, related_name="settings")
    default_appointment_minutes = models.PositiveSmallIntegerField(
        default=60, validators=[MinValueValidator(5), MaxValueValidator(480)]
    )
    calling_hours_start = models.TimeField(default=datetime.time(9, 0), help_text="Gym local time.")
    calling_hours_end = models.TimeField(default=datetime.time(20, 0), help_text="Gym local time.")
    max_call_attempts = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    no_show_grace_minutes = models.PositiveSmallIntegerField(
        default=30, validators=[MaxValueValidator(1440)],
        help_text="How long after an appointment's end it becomes a no-show if still scheduled or confirmed.",
    )
    # Appointment notifications (the notifications app): which channels, when reminders go, and when nothing
    # goes out at all (a message due then waits for the quiet hours' end).
    email_notifications = models.BooleanField(default=True, help_text="Email leads about their appointments.")
    sms_notifications = models.BooleanField(default=True, help_text="Text leads who consented about their appointments.")
    reminder_minutes_before = ArrayField(
        models.PositiveIntegerField(), default=default_reminder_minutes, blank=True,
        validators=[validate_reminder_minutes],
        help_text="When reminders go out, in minutes before the appointment (24 hours and 2 hours by default).",
    )
    quiet_hours_start = models.TimeField(default=datetime.time(21, 0),
                                         help_text="Gym local time; no notification goes out from then...")
    quiet_hours_end = models.TimeField(default=datetime.time(8, 0),
                                       help_text="...until then (the same time as the start: no quiet hours).")

    class Meta:
        verbose_name_plural = "gym settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(default_appointment_minutes__gte=5, default_appointment_minutes__lte=480),
                name="gymsettings_appointment_minutes_range",
                violation_error_message="The default appointment length must be between 5 and 480 minutes.",
            ),
            models.CheckConstraint(
                condition=Q(calling_hours_start__lt=F("calling_hours_end")),
                name="gymsettings_calling_hours_order",
                violation_error_message="Calling hours must start before they end.",
            ),
            models.CheckConstraint(
                condition=Q(max_call_attempts__gte=1),
                name="gymsettings_max_call_attempts_positive",
                violation_error_message="At least one call attempt must be allowed.",
            ),
            models.CheckConstraint(
                condition=Q(no_show_grace_minutes__lte=1440),
                name="gymsettings_no_show_grace_range",
                violation_error_message="The no-show grace period must be at most 1,440 minutes (a day).",
            ),
        ]

    def __str__(self):
        return f"Settings of {self.gym}"


class AISettings(TenantModel):
    """How the AI voice agent talks for this gym."""

    gym = models.OneToOneField(Gym, on_delete=models.CASCADE, related_name="ai_settings")
    is_enabled = models.BooleanField(default=True)
    agent_id = models.CharField(max_length=255, blank=True, help_text="The voice platform's agent id.")
    agent_version = models.PositiveIntegerField(null=True, blank=True,
                                                help_text="Which version of the agent calls (empty: its latest).")
    persona_name = models.CharField(max_length=100, default="Alex")
    greeting = models.TextField(blank=True)
    instructions = models.TextField(blank=True, help_text="What the agent should do and say.")
    qualification_questions = models.JSONField(default=list, blank=True)
    max_call_minutes = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(60)]
    )

    class Meta:
        verbose_name = "AI settings"
        verbose_name_plural = "AI settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(max_call_minutes__gte=1, max_call_minutes__lte=60),
                name="aisettings_max_call_minutes_range",
                violation_error_message="A call may last between 1 and 60 minutes.",
            ),
        ]

    def __str__(self):
        return f"AI settings of {self.gym}"


# The languages create-phone-call's agent_override takes (retell-sdk 6.2.13; a test compares).
PLATFORM_LANGUAGES = [
    "en-US", "en-IN", "en-GB", "en-AU", "en-NZ", "de-DE", "es-ES", "es-419", "hi-IN", "fr-FR", "fr-CA", "ja-JP",
    "pt-PT", "pt-BR", "zh-CN", "ru-RU", "it-IT", "ko-KR", "nl-NL", "nl-BE", "pl-PL", "tr-TR", "vi-VN", "ro-RO",
    "bg-BG", "ca-ES", "th-TH", "da-DK", "fi-FI", "el-GR", "hu-HU", "id-ID", "no-NO", "sk-SK", "sv-SE", "lt-LT",
    "lv-LV", "cs-CZ", "ms-MY", "af-ZA", "ar-SA", "az-AZ", "bs-BA", "cy-GB", "fa-IR", "fil-PH", "gl-ES", "he-IL",
    "hr-HR", "hy-AM", "is-IS", "kk-KZ", "kn-IN", "mk-MK", "mr-IN", "ne-NP", "sl-SI", "sr-RS", "sw-KE", "ta-IN",
    "ur-IN", "yue-CN", "uk-UA",
]


class VoiceSettings(TenantModel):
    """The agent's voice."""

    gym = models.OneToOneField(Gym, on_delete=models.CASCADE, related_name="voice_settings")
    voice_id = models.CharField(max_length=255, blank=True, help_text="The platform's voice id (empty: the agent's own).")
    language = models.CharField(max_length=16, default="en-US", choices=[(code, code) for code in PLATFORM_LANGUAGES])
    speaking_rate = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=1,
        validators=[MinValueValidator(Decimal("0.5")), MaxValueValidator(Decimal("2"))],
    )
    voicemail_message = models.TextField(blank=True)
    platform_api_key = models.CharField(
        max_length=255, blank=True,
        help_text="This gym's own voice-platform API key, if it has one; the platform's default otherwise.",
    )

    class Meta:
        verbose_name = "voice settings"
        verbose_name_plural = "voice settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(speaking_rate__gte=0.5, speaking_rate__lte=2),
                name="voicesettings_speaking_rate_range",
                violation_error_message="The speaking rate must be between 0.5 and 2.",
            ),
        ]

    def __str__(self):
        return f"Voice settings of {self.gym}"


class KnowledgeBaseEntry(TenantModel):
    """What the agent may tell callers: prices, hours, classes."""

    title = models.CharField(max_length=255)
    content = models.TextField()
    category = models.CharField(max_length=100, blank=True)
    is_active = models.BooleanField(default=True)

    objects: ClassVar[Any] = TenantManager.from_queryset(KnowledgeBaseEntryQuerySet)()

    class Meta:
        ordering = ["title"]
        verbose_name_plural = "knowledge base entries"
        indexes = [
            models.Index(fields=["gym", "is_active"], name="kb_gym_active_idx"),
            GinIndex(knowledge_base_document(), name="kb_search_idx"),
        ]

    def __str__(self):
        return self.title
