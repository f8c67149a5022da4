"""What the database's constraints mean to a person: each constraint's field and message, by its name.

The API's error handler maps a refused row to a 400 on its field with these; the generic services let
the database check uniqueness, check constraints and foreign keys itself, in the one statement that writes
the row, and map its refusal the same way (no query per constraint before each write).
"""

from functools import cache

from django.apps import apps
from django.contrib.postgres.constraints import ExclusionConstraint
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models


def constraint_name(error: IntegrityError) -> str | None:
    return getattr(getattr(getattr(error, "__cause__", None), "diag", None), "constraint_name", None)


def validation_error_of(error: IntegrityError) -> ValidationError | None:
    """The refusal as a ValidationError on its field, or None for a constraint that is no field's (an
    exclusion is a conflict; an unnamed one unknown): the caller lets the IntegrityError through."""
    field, message, kind = constraint_info().get(constraint_name(error), (None, None, None))
    if kind not in ("unique", "check", "same_gym") or message is None:
        return None
    return ValidationError({field or "__all__": [message]})


@cache
def constraint_info() -> dict[str | None, tuple[str | None, str, str]]:
    """{constraint name: (field it concerns or None, message, kind)} for every model."""

    info: dict[str | None, tuple[str | None, str, str]] = {}
    for model in apps.get_models():
        for constraint in model._meta.constraints:
            message = constraint.get_violation_error_message()
            if isinstance(constraint, ExclusionConstraint):
                info[constraint.name] = (None, message, "exclusion")
            elif isinstance(constraint, models.UniqueConstraint):
                fields = [f for f in constraint.fields if f != "gym"]
                info[constraint.name] = (fields[0] if len(fields) == 1 else None, message, "unique")
            else:
                info[constraint.name] = (None, message, "check")
        for field in model._meta.concrete_fields:
            if field.is_relation:
                # reps.tenancy.database.same_gym_foreign_key's name for this column
                info[f"{model._meta.db_table}_{field.column}_same_gym"[:63]] = (
                    field.name, f"This {field.verbose_name} belongs to another gym.", "same_gym"
                )
            if field.unique and not field.primary_key:
                # Django names these <table>_<column>_key.
                info[f"{model._meta.db_table}_{field.column}_key"] = (
                    field.name, f"This {field.verbose_name} is already taken.", "unique"
                )
    return info


