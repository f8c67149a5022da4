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
