from django.db import models


class LeadStatus(models.TextChoices):
    NEW = "new", "New"
    CONTACTED = "contacted", "Contacted"
    QUALIFIED = "qualified", "Qualified"
    CONVERTED = "converted", "Converted"
    LOST = "lost", "Lost"


# Statuses still worth calling: what prioritized() ranks and the voice agent may call.
OPEN_STATUSES = (LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUALIFIED)
# Where a lead starts; it moves on through POST /leads/{id}/status/ (leads.services.LEAD_TRANSITIONS).
STARTING_STATUS = LeadStatus.NEW


class InterestLevel(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class ImportStatus(models.TextChoices):
    """A lead import job's state (leads.models.LeadImport): queued, running, then done or failed."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class OnDuplicate(models.TextChoices):
    """What an import does with a row whose phone or email the gym has already."""

    SKIP = "skip", "Skip"
    UPDATE = "update", "Update"
