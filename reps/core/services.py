"""The seed's generic create/update/delete, as services that keep to one gym.

The gym always comes from the `gym` argument: a "gym" or "gym_id" in the
data is ignored, and update/delete find the row inside that gym only, so
they cannot touch another gym's row. Data is validated (full_clean, which
also refuses references to another gym's rows) before it is written.
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from .querysets import gym_id_of
from .repositories import EVERYTHING, affected_by, invalidate_after
from .scoping import gym_scope

# Never taken from data: the gym comes from the caller, the rest from the system.
PROTECTED_FIELDS = {"id", "pk", "gym", "gym_id", "created_at", "updated_at"}


def _apply(instance, data):
    """Set each field of `data` ("branch" or "branch_id" alike); unknown names are errors."""
    fields = {}
    for field in instance._meta.concrete_fields:
        if field.editable and field.name not in PROTECTED_FIELDS:
            fields[field.name] = fields[field.attname] = field
    errors = {}
    for name, value in data.items():
        if name in PROTECTED_FIELDS:
            continue
        if name not in fields:
            errors[name] = ValidationError("Unknown field.", code="unknown_field")
            continue
        setattr(instance, name, value)
    if errors:
        raise ValidationError(errors)


def create(model, *, gym, data):
    """A new row of `model` in `gym`, validated."""
    gym_id = gym_id_of(gym)
    with transaction.atomic(), gym_scope(gym_id):
        instance = model(gym_id=gym_id)
        _apply(instance, data)
        instance.full_clean()
        instance.save(force_insert=True)
        invalidate_after(gym_id, affected_by(model))
    return instance


def update(model, *, gym, object_id, data, check=None):
    """The gym's row with this id, updated and validated; None when the gym has no such row.

    `check(instance, data)`, if given, runs on the locked row before the
    change (a status transition rule, say) and raises to refuse it.
    """
    gym_id = gym_id_of(gym)
    with transaction.atomic(), gym_scope(gym_id):
        instance = model.objects.for_gym(gym_id).select_for_update().get_by_id(object_id)
        if instance is None:
            return None
        if check is not None:
            check(instance, data)
        _apply(instance, data)
        instance.full_clean()
        instance.save()
        invalidate_after(gym_id, affected_by(model))
    return instance


def delete(model, *, gym, object_id):
    """Delete the gym's row with this id (and what cascades from it); False when there is none."""
    gym_id = gym_id_of(gym)
    with transaction.atomic(), gym_scope(gym_id):
        instance = model.objects.for_gym(gym_id).get_by_id(object_id)
        if instance is None:
            return False
        instance.delete()
        # A lead takes its calls and appointments with it: their figures change too.
        invalidate_after(gym_id, EVERYTHING if model._meta.label == "leads.Lead" else affected_by(model))
    return True
