"""The decorator every service wears: the gym argument checked, the gym's scope, and a transaction.

    @gym_service
    def book_appointment(*, gym: uuid.UUID, lead, ...): ...

A view, a job, a command or a test calls a service the same way, with the
gym as a keyword (a Gym, its id or the id's text); the service receives the
gym's UUID and runs inside `database.gym_transaction(gym)`: one transaction
(a savepoint inside a caller's) in which Python and the database both work
for that gym, so row-level security shows it its gym's rows and no other's.
A service called inside another gym's scope raises ScopeError: nothing of
one gym is ever written from another gym's request.

`@gym_service(atomic=False)` is for the few services that must commit in
steps (an import in batches, a dispatch that calls the voice platform
between transactions): they get the scope and open `gym_transaction(gym)`
around each step themselves.
"""

import functools
import inspect
import uuid
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, overload

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from reps.core.cache import affected_by, affected_by_delete, invalidate_after
from reps.core.constraints import validation_error_of

from . import replica
from .database import gym_scope, gym_transaction, require_gym_transaction
from .state import ALL_GYMS, ScopeError, current_gym_id, gym_id_of

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=models.Model)

# Every gym service, in definition order: the test that calls each one as the application role walks it.
SERVICES: list[Callable[..., Any]] = []


@overload
def gym_service(function: Callable[P, R]) -> Callable[P, R]: ...


@overload
def gym_service(*, atomic: bool = True) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def gym_service(function: Callable[..., Any] | None = None, *, atomic: bool = True) -> Any:
    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        parameter = inspect.signature(function).parameters.get("gym")
        if parameter is None or parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
            raise TypeError(f"{function.__qualname__}: a gym service takes the gym as a keyword-only argument.")

        @functools.wraps(function)
        def run(*args: Any, gym: Any, **kwargs: Any) -> Any:
            gym_id = gym_id_of(gym)
            current = current_gym_id()
            if current is not None and current is not ALL_GYMS and current != gym_id:
                raise ScopeError(f"{function.__qualname__} was called for gym {gym_id} inside gym {current}'s scope.")
            with gym_transaction(gym_id) if atomic else gym_scope(gym_id):
                result = function(*args, gym=gym_id, **kwargs)
                if replica.configured():  # the gym's next reads on the replica wait for this write
                    transaction.on_commit(lambda: replica.note_gym_write(gym_id))
                return result

        SERVICES.append(run)
        return run

    return decorate(function) if function is not None else decorate


# --- The generic services: the seed's create, update and delete for any tenant model ------------------

# Never taken from data: the gym comes from the caller, the rest from the system.
PROTECTED_FIELDS = {"id", "pk", "gym", "gym_id", "created_at", "updated_at"}


def _apply(instance: models.Model, data: dict[str, Any]) -> list[str]:
    """Set each field of `data` ("branch" or "branch_id" alike); unknown names are errors. The fields set."""
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
    return [fields[name].name for name in data if name in fields]


def _save_checked(instance: models.Model, **save: Any) -> None:
    """Validate the row's fields in Python, and save it; uniqueness, check constraints and foreign keys (that
    a related row is of the same gym, too) are checked by the database itself in the statement that writes
    the row, and its refusal raised as the ValidationError on the field (reps.core.constraints), not by a
    query per constraint beforehand."""
    set_relations = [field.name for field in instance._meta.concrete_fields
                     if field.is_relation and getattr(instance, field.attname) is not None]
    instance.same_gym_checked_by_database = True  # type: ignore[attr-defined]
    instance.full_clean(exclude=set_relations, validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():  # a savepoint: the refusal leaves the caller's transaction usable
            instance.save(**save)
    except IntegrityError as error:
        refusal = validation_error_of(error)
        if refusal is None:
            raise
        raise refusal from None


def create_row(model: type[M], *, gym: uuid.UUID, data: dict[str, Any]) -> M:
    """A new row of `model` in `gym`, validated: the body of create(), for a service of that gym.

    A service that writes through these runs them in its own transaction, without a savepoint of
    their own (two round trips fewer per write); anywhere else they raise ScopeError.
    """
    require_gym_transaction(gym)
    instance = model(gym_id=gym)
    _apply(instance, data)
    _save_checked(instance, force_insert=True)
    invalidate_after(gym, affected_by(model))
    return instance


def update_row(model: type[M], *, gym: uuid.UUID, object_id: Any, data: dict[str, Any],
               check: Callable[[M, dict[str, Any]], None] | None = None) -> M | None:
    """The gym's row with this id, updated and validated; None when the gym has no such row.

    `check(instance, data)`, if given, runs on the locked row before the
    change (a status transition rule, say) and raises to refuse it.
    """
    require_gym_transaction(gym)
    instance = model.objects.for_gym(gym).select_for_update().get_by_id(object_id)  # type: ignore[attr-defined]
    if instance is None:
        return None
    if check is not None:
        check(instance, data)
    changed = _apply(instance, data)
    # Only what changed, and the time it did (the row is locked: nothing else changed meanwhile).
    _save_checked(instance, update_fields=sorted({*changed, "updated_at"}))
    invalidate_after(gym, affected_by(model))
    return instance


def delete_row(model: type[models.Model], *, gym: uuid.UUID, object_id: Any) -> bool:
    """Delete the gym's row with this id (and what cascades from it); False when there is none."""
    require_gym_transaction(gym)
    instance = model.objects.for_gym(gym).get_by_id(object_id)  # type: ignore[attr-defined]
    if instance is None:
        return False
    instance.delete()
    invalidate_after(gym, affected_by_delete(model))
    return True


@gym_service
def create(model: type[M], *, gym: uuid.UUID, data: dict[str, Any]) -> M:
    """create_row() as a service: its own transaction, or a savepoint in the caller's."""
    return create_row(model, gym=gym, data=data)


@gym_service
def update(model: type[M], *, gym: uuid.UUID, object_id: Any, data: dict[str, Any],
           check: Callable[[M, dict[str, Any]], None] | None = None) -> M | None:
    """update_row() as a service."""
    return update_row(model, gym=gym, object_id=object_id, data=data, check=check)


@gym_service
def delete(model: type[models.Model], *, gym: uuid.UUID, object_id: Any) -> bool:
    """delete_row() as a service."""
    return delete_row(model, gym=gym, object_id=object_id)
