import unicodedata
from typing import Any

from django.contrib.auth.models import BaseUserManager
from django.core.exceptions import ValidationError

from reps.tenancy.queryset import TenantQuerySet


def canonical_email(value: str | None) -> str:
    """An email address as logins compare it: NFKC-normalized (full-width letters become plain), lower case."""
    return unicodedata.normalize("NFKC", value or "").strip().lower()


def validate_plain_email(value: str) -> None:
    """Sign-in addresses are plain ASCII: "owner@northsıde.test" (a dotless ı) would pass for someone else's."""
    email = canonical_email(value)
    # A domain label in punycode ("xn--northsde-gwa") is shown in other letters by many mail programs.
    if not email.isascii() or any(label.startswith("xn--") for label in email.rpartition("@")[2].split(".")):
        raise ValidationError("Use an email address of plain letters, digits and punctuation: letters from other"
                              " alphabets can make it look like someone else's.", code="not_ascii")


class UserQuerySet(TenantQuerySet):
    def active(self) -> "UserQuerySet":
        return self.filter(is_active=True)


UserManagerBase: Any = BaseUserManager.from_queryset(UserQuerySet)


class UserManager(UserManagerBase):
    """Email login: the email, lower-cased, is the username."""

    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> Any:
        return self.get(email=canonical_email(username))

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> Any:
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=email, **fields)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> Any:
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        if not (fields["is_staff"] and fields["is_superuser"]):
            raise ValueError("A superuser must have is_staff and is_superuser set.")
        return self.create_user(email, password, **fields)
