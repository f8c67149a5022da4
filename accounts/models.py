import uuid

from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from knox.models import AbstractAuthToken

from reps.core.models import BaseModel, phone_check

from .choices import RoleName
from .querysets import UserManager, canonical_email, validate_plain_email


class Role(models.Model):
    """A gym user's role; the rows are created by a data migration."""

    name = models.CharField(max_length=20, choices=RoleName.choices, unique=True)
    description = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.get_name_display()


class User(AbstractBaseUser, PermissionsMixin, BaseModel):
    """A person who logs in with an email address.

    Gym staff belong to exactly one gym and have a role; platform
    superusers may have neither.
    """

    email = models.EmailField(max_length=255, unique=True, validators=[validate_plain_email],
                              error_messages={"unique": "This email is already taken."})
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    gym = models.ForeignKey(
        "gyms.Gym", on_delete=models.CASCADE, null=True, blank=True, related_name="+", db_index=True
    )
    role = models.ForeignKey(Role, on_delete=models.PROTECT, null=True, blank=True, related_name="users")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May log into the admin site.")

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        ordering = ["email"]
        constraints = [
            models.CheckConstraint(
                condition=Q(email=Lower("email")),
                name="user_email_lowercase",
                violation_error_message="Email addresses are stored in lower case.",
            ),
            models.CheckConstraint(
                condition=Q(is_superuser=True) | Q(gym__isnull=False, role__isnull=False),
                name="user_gym_and_role_unless_superuser",
                violation_error_message="Everyone but a platform superuser needs a gym and a role.",
            ),
            # The target of same-gym foreign keys (an appointment's staff member).
            models.UniqueConstraint(fields=["id", "gym"], name="user_id_gym_key"),
        ]

    def __str__(self):
        return self.email

    def save(self, *args, **kwargs):
        self.email = canonical_email(self.email)
        super().save(*args, **kwargs)

    def clean_fields(self, exclude=None):
        self.email = canonical_email(self.email)  # before uniqueness is checked
        super().clean_fields(exclude)

    def get_full_name(self):
        return f"{self.first_name} {self.last_name}".strip() or self.email

    def get_short_name(self):
        return self.first_name or self.email


class ApiToken(AbstractAuthToken):
    """An API token of one device (django-rest-knox): only its hash is stored; named, listed, revoked by its owner.

    `token_key`, the first characters of the token, finds the row; the digest proves the rest. The key itself
    is shown once, when it is issued.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # type: ignore[var-annotated]  # knox is untyped
    name = models.CharField(max_length=100, help_text="Which device or program holds it.")  # type: ignore[var-annotated]
    last_used_at = models.DateTimeField(null=True, blank=True)  # type: ignore[var-annotated]

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} of {self.user}"


class UserProfile(BaseModel):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="profile")
    phone = models.CharField(max_length=20, blank=True)
    job_title = models.CharField(max_length=100, blank=True)
    avatar_url = models.URLField(max_length=500, blank=True)
    bio = models.TextField(blank=True)

    phone_fields = ("phone",)

    class Meta:
        constraints = [phone_check("userprofile")]

    def __str__(self):
        return f"Profile of {self.user}"

    def phone_region(self):
        return self.user.gym.country_code if self.user.gym else None
