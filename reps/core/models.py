import uuid
from typing import Any, ClassVar

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from reps.tenancy.queryset import TenantManager, TenantQuerySet
from reps.tenancy.state import all_gyms

from .dates import wall_clock
from .phones import E164_REGEX, normalize_phone


class BaseModel(models.Model):
    """UUID primary key and timezone-aware timestamps."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # A default rather than auto_now_add, so imports and data generators can
    # keep a row's real creation time.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    # Names of the fields that hold phone numbers: stored in E.164, whatever
    # form they were entered in (numbers without a country code take
    # phone_region()).
    phone_fields: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def phone_region(self):
        return None

    def normalize_phones(self):
        """Rewrite every phone field in E.164; ValidationError keyed by field."""
        errors = {}
        for name in self.phone_fields:
            value = (getattr(self, name) or "").strip()
            if not value:
                continue
            region = None if value.startswith("+") else self.phone_region()
            try:
                setattr(self, name, normalize_phone(value, region))
            except ValidationError as error:
                errors[name] = error
        if errors:
            raise ValidationError(errors)

    def clean(self):
        super().clean()
        self.normalize_phones()

    def save(self, *args, **kwargs):
        self.normalize_phones()
        super().save(*args, **kwargs)


def phone_check(model_label, field="phone", required=False):
    """A check constraint: `field` holds an E.164 number (or is blank)."""
    condition = Q(**{f"{field}__regex": E164_REGEX})
    if not required:
        condition |= Q(**{field: ""})
    return models.CheckConstraint(
        condition=condition,
        name=f"{model_label}_{field}_e164",
        violation_error_message="Phone numbers are stored in E.164 form, like +14155550100.",
    )


class TenantModel(BaseModel):
    """A row owned by one gym.

    The gym has no reverse accessor (related_name="+"): tenant rows are read
    through `Model.objects.for_gym(gym)`, never through `gym.<model>_set`.
    """

    gym = models.ForeignKey("gyms.Gym", on_delete=models.CASCADE, related_name="+", db_index=True)

    objects: ClassVar[Any] = TenantManager.from_queryset(TenantQuerySet)()

    class Meta:
        abstract = True

    def phone_region(self):
        return self.gym.country_code if self.gym_id else None

    def time_label(self, moment):
        """`moment` on the gym's clock when the gym is loaded already (select_related), else on the page's
        (the workspace's is the gym's; the platform admin's UTC); each labelled with its zone. For __str__,
        which must not cost a query per row of a list."""
        gym = self._state.fields_cache.get("gym")
        return wall_clock(moment, gym.tzinfo if gym is not None else timezone.get_current_timezone())

    # Django's uniqueness and constraint checks look for a conflicting row
    # through the default manager; they must see what the database sees, as
    # the database's own checks do, whatever gym is current.
    def validate_unique(self, exclude=None):
        with all_gyms():
            super().validate_unique(exclude)

    def validate_constraints(self, exclude=None):
        with all_gyms():
            try:
                super().validate_constraints(exclude)
            except ValidationError as error:
                raise self._keyed_by_field(error) from None

    def _keyed_by_field(self, error):
        """A "(gym, field) must be unique" error belongs to that field, not to the whole row."""
        per_field = {}
        for constraint in self._meta.constraints:
            fields = [name for name in getattr(constraint, "fields", ()) if name != "gym"]
            if isinstance(constraint, models.UniqueConstraint) and len(fields) == 1:
                per_field[constraint.get_violation_error_message()] = fields[0]
        errors: dict[str, list[ValidationError]] = {}
        for field, messages in error.error_dict.items():
            for message in messages:
                text = message.messages[0]
                target = per_field.get(text, field) if field == NON_FIELD_ERRORS else field
                errors.setdefault(target, []).append(message)
        return ValidationError(errors)

    def clean_fields(self, exclude=None):
        # clean() checks each reference to a gym-owned row. Django's own check
        # that the row exists would add a second message for the same id:
        # inside a gym, row-level security hides another gym's rows.
        references = {field.name for field, _ in self._gym_owned_references()}
        super().clean_fields(exclude=set(exclude or ()) | references)

    # The generic services set this: the database's same-gym foreign keys (reps.tenancy.database) refuse
    # another gym's row in the statement that writes, and the refusal is this same field error.
    same_gym_checked_by_database = False

    def clean(self):
        super().clean()
        if self.same_gym_checked_by_database:
            return
        errors = {}
        for field, other_gym_id in self._related_gym_ids():
            if other_gym_id != self.gym_id:
                errors[field.name] = ValidationError(
                    "This %(model)s belongs to another gym.",
                    code="other_gym",
                    params={"model": field.related_model._meta.verbose_name},
                )
        if errors:
            raise ValidationError(errors)

    def _gym_owned_references(self):
        """(field, id) for each set foreign key to a gym-owned model."""
        for field in self._meta.concrete_fields:
            if not field.is_relation or field.name == "gym":
                continue
            if not any(f.name == "gym" for f in field.related_model._meta.concrete_fields):  # type: ignore[union-attr]
                continue
            value = getattr(self, field.attname)
            if value is not None:
                yield field, value

    def _related_gym_ids(self):
        """(field, gym id of the row it points at) for each set foreign key to a gym-owned model."""
        if self.gym_id is None:
            return
        for field, value in self._gym_owned_references():
            target = field.related_model
            cached = field.get_cached_value(self, default=None)
            if cached is not None:
                yield field, cached.gym_id
            else:
                yield field, target._base_manager.filter(pk=value).values_list("gym_id", flat=True).first()


def same_gym_key(model_label):
    """The unique (id, gym) key that same-gym foreign keys point at."""
    return models.UniqueConstraint(fields=["id", "gym"], name=f"{model_label}_id_gym_key")


class OutboxMessage(TenantModel):
    """A message to deliver once its transaction commits (the transactional outbox).

    Services write it in the same transaction as the change it announces, so a booking and its
    notification exist together or not at all. The relay (reps.core.outbox) hands each pending message to
    the subscribers of its topic, at least once, and stamps sent_at; a delivery that fails is tried again
    after a growing pause (next_attempt_at), and after OUTBOX_MAX_ATTEMPTS it is failed (failed_at) until
    someone retries it from the admin.
    """

    topic = models.CharField(max_length=100, help_text='What happened, like "appointment.booked".')
    payload = models.JSONField(default=dict)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="Not delivered before then: a retry's pause, or a relay's claim.")
    failed_at = models.DateTimeField(null=True, blank=True, help_text="Given up after the last attempt.")

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["gym", "created_at"], condition=Q(sent_at__isnull=True, failed_at__isnull=True),
                         name="outbox_pending_idx"),
            # The platform admin's list, the newest first (the outbox keeps every message).
            models.Index(fields=["-created_at", "-id"], name="outbox_created_id_idx"),
        ]

    @property
    def state(self) -> str:
        return "sent" if self.sent_at else "failed" if self.failed_at else "pending"

    def __str__(self):
        return f"{self.topic} ({self.state})"
