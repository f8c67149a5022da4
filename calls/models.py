from typing import Any, ClassVar

from django.db import models
from django.db.models import F, Q

from leads.querysets import PRIORITIZED_LEADS
from reps.core.models import TenantModel, same_gym_key
from reps.tenancy.queryset import TenantManager

from .choices import CallDirection, CallOutcome, CallStatus, CampaignStatus, WebhookStatus
from .querysets import CALL_METRICS, CallLogQuerySet, CampaignQuerySet


class Campaign(TenantModel):
    """A batch of calls with one purpose, like 'January re-engagement'."""

    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)

    objects: ClassVar[Any] = TenantManager.from_queryset(CampaignQuerySet)()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_on__isnull=True) | Q(ends_on__isnull=True) | Q(ends_on__gte=F("starts_on")),
                name="campaign_dates_order",
                violation_error_message="A campaign cannot end before it starts.",
            ),
            same_gym_key("campaign"),
        ]
        indexes = [models.Index(fields=["gym", "status"], name="campaign_gym_status_idx")]

    def __str__(self):
        return self.name


class CallLog(TenantModel):
    """One call to (or from) a lead, by the AI agent or by staff."""

    # Indexed by (lead, -start_time) below.
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="calls", db_index=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls")
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    duration = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds.")
    status = models.CharField(max_length=20, choices=CallStatus.choices, default=CallStatus.SCHEDULED)
    outcome = models.CharField(max_length=30, choices=CallOutcome.choices, blank=True)
    notes = models.TextField(blank=True)
    is_ai_call = models.BooleanField(default=False)
    retell_call_id = models.CharField(
        max_length=255, null=True, blank=True, help_text="The voice platform's id of this call."
    )
    # What the voice platform reports about the call.
    direction = models.CharField(max_length=10, choices=CallDirection.choices, default=CallDirection.OUTBOUND)
    from_number = models.CharField(max_length=20, blank=True)
    to_number = models.CharField(max_length=20, blank=True)
    disconnection_reason = models.CharField(max_length=100, blank=True)
    recording_url = models.URLField(max_length=1000, blank=True)
    summary = models.TextField(blank=True)
    sentiment = models.CharField(max_length=20, blank=True)
    analysis = models.JSONField(default=dict, blank=True, help_text="The platform's custom analysis data.")
    dispatched_at = models.DateTimeField(null=True, blank=True, help_text="When it was sent to the voice platform.")
    counts_as_attempt = models.BooleanField(
        default=True, db_default=True, help_text="Whether it counts toward the gym's max_call_attempts: not when the call was never"
                                " placed, or failed for the account, the telephony or the platform.")

    objects: ClassVar[Any] = TenantManager.from_queryset(CallLogQuerySet)()

    # What a change to a call makes stale: its metrics, and its lead's place among the prioritized.
    cache_namespaces = (CALL_METRICS, PRIORITIZED_LEADS)

    class Meta:
        ordering = ["-start_time"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__isnull=True) | Q(start_time__isnull=True) | Q(end_time__gte=F("start_time")),
                name="calllog_end_after_start",
                violation_error_message="A call cannot end before it starts.",
            ),
            # The voice platform's ids are global, so one id is one call. The pattern operator class: the
            # admin's search finds a call by its id's beginning too (LIKE 'call_8f3%'), in any collation.
            models.UniqueConstraint(
                fields=["retell_call_id"],
                condition=Q(retell_call_id__isnull=False),
                name="calllog_retell_call_id_key",
                opclasses=["varchar_pattern_ops"],
                violation_error_message="A call with this voice-platform id exists already.",
            ),
            same_gym_key("calllog"),
        ]
        indexes = [
            models.Index(fields=["gym", "status", "start_time"], name="calllog_gym_status_start_idx"),
            # metrics(): the month's calls, their durations and outcomes, from the index alone.
            models.Index(fields=["gym", "start_time"], include=["duration", "outcome"], name="calllog_gym_start_idx"),
            models.Index(fields=["lead", "-start_time"], name="calllog_lead_start_idx"),
            # The platform admin's list of every gym's calls, newest first, not started yet after them.
            models.Index(F("start_time").desc(nulls_last=True), F("created_at").desc(), F("id").desc(),
                         name="calllog_start_created_id_idx"),
        ]

    def __str__(self) -> str:
        # The lead costs a query unless it is loaded already (select_related, or the lead's own page).
        who = self.lead.full_name or self.lead.phone
        towards = "from" if self.direction == CallDirection.INBOUND else "to"
        when = f" at {self.time_label(self.start_time)}" if self.start_time else ""
        return f"Call {towards} {who}{when} ({self.get_status_display()})"


class CallTranscript(TenantModel):
    call = models.OneToOneField(CallLog, on_delete=models.CASCADE, related_name="transcript")
    content = models.TextField(blank=True, help_text="The whole conversation as text.")
    utterances = models.JSONField(
        default=list, blank=True, help_text='[{"role": "agent" | "user", "content": "..."}, ...]'
    )

    class Meta:
        # The platform admin's list, newest first.
        indexes = [models.Index(fields=["-created_at", "-id"], name="calltranscript_created_id_idx")]

    def __str__(self):
        return f"Transcript: {self.call}"


class VoiceWebhookEvent(models.Model):
    """Each event the voice platform sent, once: idempotency, audit, and review of unknown calls.

    Not a tenant row: an unknown call has no gym. (platform_call_id, event) is unique,
    so a retried or duplicated delivery is recognised and not applied twice.
    """

    id = models.BigAutoField(primary_key=True)
    received_at = models.DateTimeField(auto_now_add=True)
    platform_call_id = models.CharField(max_length=255, help_text="The voice platform's call id.")
    event = models.CharField(max_length=50)
    payload = models.JSONField()
    gym = models.ForeignKey("gyms.Gym", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    call_log = models.ForeignKey(CallLog, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=20, choices=WebhookStatus.choices, default=WebhookStatus.PROCESSED)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["platform_call_id", "event"], name="voicewebhookevent_call_event_key"),
        ]
        indexes = [models.Index(fields=["status", "-received_at"], name="voicewebhook_status_idx")]

    def __str__(self):
        return f"{self.event} {self.platform_call_id} ({self.status})"
