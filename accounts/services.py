"""Writes to a gym's staff accounts and their API tokens."""

import contextlib
import uuid
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from knox.settings import knox_settings

from reps.core.exceptions import DomainError
from reps.core.permissions import role_of
from reps.tenancy.services import gym_service

from .choices import RoleName
from .models import ApiToken, User


def _check_may_manage(actor: User, target_role: str | None, user: User | None = None) -> None:
    """Only an owner may make someone an owner or change an owner's account."""
    touches_owner = target_role == RoleName.OWNER or (user is not None and role_of(user) == RoleName.OWNER)
    if touches_owner and role_of(actor) != RoleName.OWNER:
        raise PermissionDenied("Only an owner can create or change an owner's account.")


def _check_member(user: User, gym: uuid.UUID) -> None:
    if user.gym_id != gym:
        raise PermissionDenied("That user is not on this gym's staff.")


class TooManyAttempts(DomainError):
    status_code = 429
    code = "locked_out"


def _check_may_set_password(actor: User, user: User, current_password: str | None) -> None:
    """Your own password, with your current one; another person's, only as an owner."""
    if user.pk == actor.pk:
        _check_current_password(user, current_password)
    elif role_of(actor) != RoleName.OWNER:
        raise PermissionDenied("Only an owner sets another person's password.")


def _check_current_password(user: User, current_password: str | None) -> None:
    """The current password, guessed wrong at most LOGIN_FAILURE_LIMIT times per LOGIN_COOLOFF_MINUTES.

    Whoever holds a stolen token must not guess their way to the account. The count is in the cache, which
    the request's rollback does not undo; with the cache down, nothing is counted.
    """
    key, cooloff, failures = f"current-password-failures:{user.pk}", int(settings.AXES_COOLOFF_TIME.total_seconds()), 0
    with contextlib.suppress(Exception):
        failures = cache.get(key) or 0
    if failures >= settings.AXES_FAILURE_LIMIT:
        raise TooManyAttempts(f"Too many wrong current passwords: try again in {cooloff // 60} minutes.",
                              retry_after=cooloff)
    if current_password and user.check_password(current_password):
        return
    with contextlib.suppress(Exception):
        if not cache.add(key, 1, cooloff):
            cache.incr(key)
    raise ValidationError({"current_password": "Give your current password to change it."})


@gym_service
def create_staff_user(*, gym: uuid.UUID, actor: User, data: dict[str, Any]) -> User:
    data = dict(data)
    password = data.pop("password")
    data.pop("current_password", None)
    _check_may_manage(actor, data["role"].name)
    user = User(gym_id=gym, **data)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user


@gym_service
def update_staff_user(*, gym: uuid.UUID, actor: User, user_id: Any, data: dict[str, Any]) -> User | None:
    user: User | None = (
        User.objects.for_gym(gym).select_related("role").select_for_update(of=("self",)).get_by_id(user_id)
    )
    if user is None:
        return None
    data = dict(data)
    _check_may_manage(actor, data["role"].name if "role" in data else None, user)
    if user.pk == actor.pk and (data.get("is_active") is False or "role" in data and data["role"] != user.role):
        raise ValidationError("You cannot deactivate yourself or change your own role.")
    password, current_password = data.pop("password", None), data.pop("current_password", None)
    if password:
        _check_may_set_password(actor, user, current_password)
    for name, value in data.items():
        setattr(user, name, value)
    if password:
        user.set_password(password)
        ApiToken.objects.filter(user=user).delete()  # a new password signs out every device
    user.full_clean(exclude=["password"])
    user.save()
    if not user.is_active:
        ApiToken.objects.filter(user=user).delete()
    return user


@gym_service
def change_own_password(*, gym: uuid.UUID, user: User, current_password: str, password: str) -> None:
    """Any staff member's own password, with the current one (wrong ones limited); signs out every device."""
    _check_member(user, gym)
    _check_current_password(user, current_password)
    user.set_password(password)
    user.save(update_fields=["password"])
    ApiToken.objects.filter(user=user).delete()


@gym_service
def deactivate_staff_user(*, gym: uuid.UUID, actor: User, user_id: Any) -> User | None:
    """Staff are deactivated, not deleted: their calls and appointments keep their history."""
    return update_staff_user(gym=gym, actor=actor, user_id=user_id, data={"is_active": False})


@gym_service
def issue_token(*, gym: uuid.UUID, user: User, name: str = "", replaces_its_name: bool = False
                ) -> tuple[ApiToken, str]:
    """A new API token for one of the user's devices, and its key (shown this once; only its hash is kept).

    With replaces_its_name (a device that signs in under the name it chose), the user's token of that name
    goes: one per device. The user's expired tokens go; at most API_TOKENS_PER_USER remain.
    """
    _check_member(user, gym)
    name = (name.strip() or "API token")[:100]
    ApiToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    if replaces_its_name:
        ApiToken.objects.filter(user=user, name=name).delete()
    limit = knox_settings.TOKEN_LIMIT_PER_USER
    if limit is not None and ApiToken.objects.filter(user=user).count() >= limit:
        raise ValidationError({"name": f"You have {limit} API tokens already: revoke one (auth/tokens/) first, or"
                                       " sign in under the name of a device you have a token for."})
    # Used now, by the sign-in that made it: the first request within a minute writes no "last used".
    api_token, key = ApiToken.objects.create(user=user, name=name,
                                             last_used_at=timezone.now())
    return api_token, key


@gym_service
def rotate_token(*, gym: uuid.UUID, user: User, api_token: ApiToken) -> tuple[ApiToken, str]:
    """Swap one of the user's tokens for a fresh one of the same name; the old one stops working at once."""
    _check_member(user, gym)
    name = api_token.name
    ApiToken.objects.filter(user=user, pk=api_token.pk).delete()
    return issue_token(gym=gym, user=user, name=name)


@gym_service
def revoke_token(*, gym: uuid.UUID, user: User, token_id: Any) -> bool:
    """Revoke one of the user's tokens (by its public id); False when the user has no such token."""
    _check_member(user, gym)
    deleted, _ = ApiToken.objects.filter(user=user, public_id=token_id).delete()
    return deleted > 0
