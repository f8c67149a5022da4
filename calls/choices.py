from typing import Any, NamedTuple

from django.db import models


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"


class CallStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    NO_ANSWER = "no_answer", "No answer"


# A call that is queued or under way: the lead has a call pending.
PENDING_STATUSES = (CallStatus.SCHEDULED, CallStatus.IN_PROGRESS)


class CallOutcome(models.TextChoices):
    APPOINTMENT_BOOKED = "appointment_booked", "Appointment booked"
    FOLLOW_UP_NEEDED = "follow_up_needed", "Follow-up needed"
    NOT_INTERESTED = "not_interested", "Not interested"
    WRONG_NUMBER = "wrong_number", "Wrong number"
    VOICEMAIL = "voicemail", "Voicemail"
    NO_ANSWER = "no_answer", "No answer"
    OTHER = "other", "Other"


class CallDirection(models.TextChoices):
    OUTBOUND = "outbound", "Outbound"
    INBOUND = "inbound", "Inbound"


class WebhookStatus(models.TextChoices):
    PROCESSED = "processed", "Processed"
    UNMATCHED = "unmatched", "Unmatched: no gym or lead found, kept for review"
    FAILED = "failed", "Failed"
    IGNORED = "ignored", "Ignored: an event that changes nothing here"


class PlatformEffect(NamedTuple):
    """What one way a voice-platform call ends means here.

    status: the call's status. outcome: its outcome, or None for the one the post-call analysis gives.
    reached: a person talked with the agent (the lead becomes contacted, gains engagement and a last
    interaction). attempt: it counts toward the gym's max_call_attempts. platform_failure: the account, the
    telephony or the platform failed, not the lead (counted in reps_voice_platform_failures_total, a /healthz
    warning, and the lead is called again later). do_not_call: the lead asked not to be called again.
    """

    status: str
    outcome: str | None
    reached: bool
    attempt: bool
    platform_failure: bool = False
    do_not_call: bool = False


_TALKED = PlatformEffect(CallStatus.COMPLETED, None, reached=True, attempt=True)
_NOT_REACHED = PlatformEffect(CallStatus.NO_ANSWER, CallOutcome.NO_ANSWER, reached=False, attempt=True)
_FAILED_HERE = PlatformEffect(CallStatus.FAILED, None, reached=False, attempt=False, platform_failure=True)

# Every disconnection_reason of retell-sdk 6.2.13 (PhoneCallResponse.disconnection_reason); the README has
# the same table, and a test checks that the two and the SDK agree.
DISCONNECTION_EFFECTS: dict[str, PlatformEffect] = {
    # A conversation: its outcome comes from the post-call analysis.
    "user_hangup": _TALKED, "agent_hangup": _TALKED, "call_transfer": _TALKED, "max_duration_reached": _TALKED,
    "transfer_bridged": _TALKED, "transfer_cancelled": _TALKED, "manual_stopped": _TALKED,
    "call_take_over": _TALKED,
    "user_requested_dnc": PlatformEffect(CallStatus.COMPLETED, CallOutcome.NOT_INTERESTED, reached=True,
                                         attempt=True, do_not_call=True),
    "user_requested_callback": PlatformEffect(CallStatus.COMPLETED, CallOutcome.FOLLOW_UP_NEEDED, reached=True,
                                              attempt=True),
    # Connected, but to nobody who talked.
    "inactivity": PlatformEffect(CallStatus.COMPLETED, CallOutcome.NO_ANSWER, reached=False, attempt=True),
    "scam_detected": PlatformEffect(CallStatus.COMPLETED, CallOutcome.OTHER, reached=False, attempt=True),
    "voicemail_reached": PlatformEffect(CallStatus.NO_ANSWER, CallOutcome.VOICEMAIL, reached=False, attempt=True),
    "ivr_reached": _NOT_REACHED,
    # Not answered: the lead's doing.
    "dial_no_answer": _NOT_REACHED, "dial_busy": _NOT_REACHED, "user_declined": _NOT_REACHED,
    # The number is no phone: an attempt, so that campaigns stop calling it.
    "invalid_destination": PlatformEffect(CallStatus.FAILED, CallOutcome.WRONG_NUMBER, reached=False,
                                          attempt=True),
    # The account, the telephony or the platform: not the lead's doing.
    "concurrency_limit_reached": _FAILED_HERE, "no_concurrency_fallback": _FAILED_HERE,
    "no_valid_payment": _FAILED_HERE, "credit_exhausted": _FAILED_HERE, "budget_reached": _FAILED_HERE,
    "dial_failed": _FAILED_HERE, "telephony_provider_permission_denied": _FAILED_HERE,
    "telephony_provider_unavailable": _FAILED_HERE, "sip_routing_error": _FAILED_HERE,
    "marked_as_spam": _FAILED_HERE, "network_blocked": _FAILED_HERE, "registered_call_timeout": _FAILED_HERE,
    "error_llm_websocket_open": _FAILED_HERE, "error_llm_websocket_lost_connection": _FAILED_HERE,
    "error_llm_websocket_runtime": _FAILED_HERE, "error_llm_websocket_corrupt_payload": _FAILED_HERE,
    "error_no_audio_received": _FAILED_HERE, "error_asr": _FAILED_HERE, "error_retell": _FAILED_HERE,
    "error_unknown": _FAILED_HERE, "error_user_not_joined": _FAILED_HERE,
}

# A call_status without a reason we know: registered and ongoing are not final; the rest are.
STATUS_EFFECTS: dict[str, PlatformEffect] = {
    "registered": PlatformEffect(CallStatus.SCHEDULED, None, reached=False, attempt=False),
    "ongoing": PlatformEffect(CallStatus.IN_PROGRESS, None, reached=False, attempt=False),
    "ended": _TALKED,
    "not_connected": _NOT_REACHED,
    "error": _FAILED_HERE,
}


def platform_effect(call_status: Any, disconnection_reason: Any) -> PlatformEffect | None:
    """What a platform call's status and disconnection reason mean; None when neither is known."""
    status = STATUS_EFFECTS.get(call_status) if isinstance(call_status, str) else None
    if status is not None and status.status in PENDING_STATUSES:
        return status  # under way: no reason yet
    reason = DISCONNECTION_EFFECTS.get(disconnection_reason) if isinstance(disconnection_reason, str) else None
    return reason or status
