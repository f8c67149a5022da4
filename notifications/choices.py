from django.db import models


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class Kind(models.TextChoices):
    CONFIRMATION = "confirmation", "Booking confirmation"
    REMINDER = "reminder", "Reminder"
    RESCHEDULED = "rescheduled", "Moved"
    CANCELLED = "cancelled", "Cancelled"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waits for send_at
    SENDING = "sending", "Sending"  # claimed by a worker until claimed_until
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Skipped"  # not to be sent: reason says why (no consent, opted out, moved...)
    FAILED = "failed", "Failed"  # the provider refused it for good, or every attempt failed


OPEN_STATUSES = [NotificationStatus.PENDING, NotificationStatus.SENDING]
