"""Writes to a gym's staff accounts."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from rest_framework.authtoken.models import Token

from reps.core.querysets import gym_id_of

from .models import RoleName, User


def _check_may_manage(actor, target_role, user=None):
    """Only an owner may make someone an owner or change an owner's account."""
    touches_owner = target_role == RoleName.OWNER or (user is not None and user.role.name == RoleName.OWNER)
    if touches_owner and actor.role.name != RoleName.OWNER:
        raise PermissionDenied("Only an owner can create or change an owner's account.")


@transaction.atomic
def create_staff_user(*, gym, actor, data):
    data = dict(data)
    password = data.pop("password")
    _check_may_manage(actor, data["role"].name)
    user = User(gym_id=gym_id_of(gym), **data)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user


@transaction.atomic
def update_staff_user(*, gym, actor, user_id, data):
    user = User.objects.for_gym(gym_id_of(gym)).select_related("role").select_for_update(of=("self",)).get_by_id(
        user_id
    )
    if user is None:
        return None
    data = dict(data)
    _check_may_manage(actor, data["role"].name if "role" in data else None, user)
    if user.pk == actor.pk and (data.get("is_active") is False or "role" in data and data["role"] != user.role):
        raise ValidationError("You cannot deactivate yourself or change your own role.")
    password = data.pop("password", None)
    for name, value in data.items():
        setattr(user, name, value)
    if password:
        user.set_password(password)
        Token.objects.filter(user=user).delete()  # a new password signs out every device
    user.full_clean(exclude=["password"])
    user.save()
    if not user.is_active:
        Token.objects.filter(user=user).delete()
    return user


def deactivate_staff_user(*, gym, actor, user_id):
    """Staff are deactivated, not deleted: their calls and appointments keep their history."""
    return update_staff_user(gym=gym, actor=actor, user_id=user_id, data={"is_active": False})
