from typing import Any, ClassVar

from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from reps.core.models import TenantModel, phone_check, same_gym_key
from reps.tenancy.queryset import TenantManager

from .choices import ImportStatus, InterestLevel, LeadStatus, OnDuplicate
from .querysets import (
    LEAD_DASHBOARD,
    LEAD_STATS,
    PRIORITIZED_LEADS,
    LeadImportQuerySet,
    LeadQuerySet,
    LeadTagQuerySet,
)


class Lead(TenantModel):
    """A prospective member whom the gym (and its voice agent) follows up."""

    branch = models.ForeignKey("gyms.Branch", on_delete=models.SET_NULL, null=True, blank=True, related_name="leads")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(max_length=255, blank=True)
    phone = models.CharField(max_length=20, help_text="Stored in E.164; unique among the gym's leads.")
    status = models.CharField(max_length=20, choices=LeadStatus.choices, default=LeadStatus.NEW)
    source = models.CharField(max_length=100, blank=True, help_text="Where the lead came from: website, referral...")
    notes = models.TextField(blank=True)
    tags = models.ManyToManyField(  # type: ignore[var-annotated]
        "LeadTag", through="LeadTagAssignment", related_name="leads", blank=True
    )
    # Added in migration 0002 (the seed's "LeadV2"), backfilled from calls and appointments.
    engagement_score = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)], help_text="0 to 100; how engaged the lead has been."
    )
    last_interaction = models.DateTimeField(null=True, blank=True)
    # AI calls are artificial-voice calls: none without consent, none after an opt-out.
    do_not_call = models.BooleanField(default=False, help_text="The lead asked not to be called.")
    consent_given_at = models.DateTimeField(null=True, blank=True, help_text="When the lead agreed to be called.")
    consent_source = models.CharField(max_length=255, blank=True, help_text="How: web form, import file, call...")

    objects: ClassVar[Any] = TenantManager.from_queryset(LeadQuerySet)()

    phone_fields = ("phone",)
    # The cached reads a change to a lead makes stale (reps.core.cache.affected_by).
    cache_namespaces = (LEAD_STATS, PRIORITIZED_LEADS, LEAD_DASHBOARD)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["gym", "phone"],
                name="lead_gym_phone_key",
                violation_error_message="This gym already has a lead with this phone number.",
            ),
            phone_check("lead", required=True),
            models.CheckConstraint(
                condition=Q(engagement_score__lte=100),
                name="lead_engagement_score_range",
                violation_error_message="The engagement score must be between 0 and 100.",
            ),
            same_gym_key("lead"),
        ]
        indexes = [
            models.Index(fields=["gym", "status"], name="lead_gym_status_idx"),
            models.Index(fields=["gym", "email"], name="lead_gym_email_idx"),
            # Newest first down to the id that breaks ties: numbered and cursor pages walk it without a sort,
            # and deep pages read their ids from it alone.
            models.Index(fields=["gym", "-created_at", "-id"], name="lead_gym_created_id_idx"),
            # search(): lead_search_keys_idx and lead_platform_search_keys_idx, trigram keys of one gym's leads
            # (or of every gym, for the platform), made in leads migration 0010 (expression indexes on its
            # functions).
            # lead_dashboard(): conversion by source and counts by status from the index alone.
            models.Index(fields=["gym", "source", "status"], name="lead_gym_source_status_idx"),
            # The platform admin's list of every gym's leads, newest first (its order, then the admin's -pk).
            models.Index(fields=["-created_at", "-id"], name="lead_created_id_idx"),
        ]

    def __str__(self):
        return self.full_name

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name}".strip()


class LeadTag(TenantModel):
    name = models.CharField(max_length=50)
    color = models.CharField(max_length=7, default="#6B7280", help_text="A hex colour, like #22C55E.")

    objects: ClassVar[Any] = TenantManager.from_queryset(LeadTagQuerySet)()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                "gym",
                Lower("name"),
                name="leadtag_gym_name_key",
                violation_error_message="This gym already has a tag with this name.",
            ),
            models.CheckConstraint(
                condition=Q(color__regex=r"^#[0-9A-Fa-f]{6}$"),
                name="leadtag_color_hex",
                violation_error_message="The colour must look like #22C55E.",
            ),
            same_gym_key("leadtag"),
        ]

    def __str__(self):
        return self.name


class LeadTagAssignment(TenantModel):
    """The join table between leads and tags (the seed's lead_tag_association).

    It carries the gym so that row-level rules and same-gym keys can apply to
    it like to every other tenant table.
    """

    # Indexed by the unique (lead, tag) key.
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="tag_assignments", db_index=False)
    tag = models.ForeignKey(LeadTag, on_delete=models.CASCADE, related_name="assignments")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "tag"],
                name="leadtagassignment_lead_tag_key",
                violation_error_message="The lead already has this tag.",
            ),
        ]
        # The platform admin's list, newest first.
        indexes = [models.Index(fields=["-created_at", "-id"], name="leadtagassign_created_id_idx")]

    def __str__(self):
        return f"{self.lead} / {self.tag}"


class LeadQualification(TenantModel):
    """What the agent or staff learned about a lead; score ranks leads."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, related_name="qualification")
    score = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    interest_level = models.CharField(max_length=10, choices=InterestLevel.choices, blank=True)
    fitness_goals = models.TextField(blank=True)
    budget = models.CharField(max_length=100, blank=True)
    timeline = models.CharField(max_length=100, blank=True, help_text="When the lead wants to start.")
    notes = models.TextField(blank=True)
    qualified_at = models.DateTimeField(null=True, blank=True)

    cache_namespaces = (PRIORITIZED_LEADS,)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(score__lte=100),
                name="leadqualification_score_range",
                violation_error_message="The score must be between 0 and 100.",
            ),
        ]
        indexes = [
            models.Index(fields=["gym", "-score"], name="leadqual_gym_score_idx"),
            # The platform admin's list, newest first.
            models.Index(fields=["-created_at", "-id"], name="leadqual_created_id_idx"),
        ]

    def __str__(self):
        return f"Qualification of {self.lead} ({self.score})"


class LeadImport(TenantModel):
    """A CSV import run in the background (POST /api/v1/leads/import/ of a big file; leads.tasks.run_import).

    Queued with the file's text; a worker claims it (running, under `claim`), imports it through
    leads.imports.import_leads in batches, noting the rows read after each (`rows_processed`, `heartbeat_at`),
    and records the counts and the per-row report (done), or why it could not (failed). A running job whose
    worker stopped noting progress (LEAD_IMPORT_STALE_SECONDS) is taken over by the next run: running the same
    file again changes nothing that the first run wrote.
    """

    created_by = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", help_text="Who uploaded the file.")
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    on_duplicate = models.CharField(max_length=10, choices=OnDuplicate.choices, default=OnDuplicate.SKIP)
    source_name = models.CharField(max_length=255, blank=True, help_text="The uploaded file's name.")
    text = models.TextField(help_text="The CSV file, as uploaded (UTF-8).")
    rows_total = models.PositiveIntegerField(default=0, help_text="Data rows in the file, counted at upload.")
    rows_processed = models.PositiveIntegerField(default=0, help_text="Rows read so far (after each batch).")
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0, help_text="Rows with errors (the report keeps the first"
                                                                   " LEAD_IMPORT_REPORT_MAX_ERRORS).")
    report = models.JSONField(null=True, blank=True, help_text="When done: the per-row report, as the synchronous"
                                                               " import answers it.")
    error = models.TextField(blank=True, help_text="Why the job failed.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Runs that claimed the job.")
    claim = models.UUIDField(null=True, blank=True, editable=False,
                             help_text="The run that holds the job; a run that lost it stops.")
    enqueued_at = models.DateTimeField(null=True, blank=True,
                                       help_text="When a task was last handed to the broker (none: not yet).")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="The running job's last progress.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[Any] = TenantManager.from_queryset(LeadImportQuerySet)()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The gym's jobs, newest first (the API's list), down to the id that breaks ties.
            models.Index(fields=["gym", "-created_at", "-id"], name="leadimport_gym_created_id_idx"),
            # The sweep's question (reps_gyms_with_pending_imports): only unfinished jobs.
            models.Index(fields=["status"], condition=Q(status__in=["queued", "running"]),
                         name="leadimport_unfinished_idx"),
        ]

    def __str__(self):
        return f"{self.source_name or 'import'} ({self.status}, {self.rows_processed}/{self.rows_total})"
