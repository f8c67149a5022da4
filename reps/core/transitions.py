from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, cast

from django import forms
from django.contrib import admin

from .exceptions import DomainError


class InvalidTransition(DomainError, ValueError):
    """A status change that the status's rules do not allow: a 400 naming `status` in the API.

    Also a ValueError, the way plain Python callers catch bad arguments.
    """

    code = "invalid_transition"
    field = "status"


def check_transition(allowed: Mapping[Any, Sequence[str]], current: str, new: str, what: str = "status") -> None:
    """Raise InvalidTransition unless `current` may become `new`; staying put is allowed.

    `allowed` maps each status to the statuses it may change to.
    """
    if new not in allowed:
        raise InvalidTransition(f"{new!r} is not a {what}; choose from {', '.join(allowed)}.")
    if new != current and new not in allowed[current]:
        raise InvalidTransition(f"The {what} cannot change from {current} to {new}; from {current} it can become"
                                f" {', '.join(allowed[current]) or 'nothing'}.")


class StatusTransitionForm(forms.ModelForm):
    """The part of a model form that keeps its status field to the allowed transitions.

    StatusTransitionAdminMixin builds it on each of its admin's forms, with these three set.
    """

    status_transitions: ClassVar[Mapping[Any, Sequence[str]]] = {}
    status_field: ClassVar[str] = "status"
    status_description: ClassVar[str] = "status"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What is stored (a new row's: the field's default), read before the posted data reach the instance.
        self.status_before = getattr(self.instance, self.status_field)
        field = self.fields.get(self.status_field)
        if isinstance(field, forms.ChoiceField):
            allowed = self.allowed_statuses()
            # Only the select is narrowed: the field still takes any status, so that full_clean() can say why
            # one is refused, in the API's words, rather than that it is not among the choices.
            choices = cast(list[tuple[str, str]], field.choices)  # a model field's: pairs, no groups
            field.widget.choices = [(value, label) for value, label in choices if value in allowed]

    def allowed_statuses(self) -> list[str]:
        """The stored status and those it may become; for a new row, only the one it starts in."""
        if self.instance._state.adding:
            return [self.status_before]
        return [self.status_before, *self.status_transitions.get(self.status_before, ())]

    def full_clean(self) -> None:
        # After the model's own validation, not in clean(): a field with an error is left out of that
        # validation, and Django's ExclusionConstraint.validate fails (FieldError) when its condition names a
        # field left out (an appointment's no-overlap rule names the status).
        super().full_clean()
        status = getattr(self, "cleaned_data", {}).get(self.status_field)
        if status is None:  # not posted, not in the form, or refused already
            return
        try:
            if not self.instance._state.adding:
                check_transition(self.status_transitions, self.status_before, status, self.status_description)
            elif status != self.status_before:
                raise InvalidTransition(f"A new {self.instance._meta.verbose_name} starts as {self.status_before};"
                                        f" its {self.status_description} can change once it is saved.")
        except InvalidTransition as error:
            self.add_error(self.status_field, str(error))


class StatusTransitionAdminMixin(admin.ModelAdmin):
    """A model admin whose status changes follow the rules the API follows (check_transition).

    `status_transitions` maps each status to those it may become (like leads.services.LEAD_TRANSITIONS). A
    change form's status select offers the stored status and those; an add form's, only the field's default,
    where a row starts. Any other status posted is the form's error. The changelist's editable columns are
    built on the same form, so list_editable cannot skip the rules either.
    """

    status_transitions: ClassVar[Mapping[Any, Sequence[str]]] = {}
    status_field: ClassVar[str] = "status"
    # How the errors name the status, as the API's do ("call status"); by default "<model> <field>".
    status_description: ClassVar[str | None] = None

    def get_form(self, request: Any, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        return self._following_transitions(super().get_form(request, obj, change, **kwargs))

    def get_changelist_form(self, request: Any, **kwargs: Any) -> Any:
        return self._following_transitions(super().get_changelist_form(request, **kwargs))

    def _following_transitions(self, form_class: type[forms.ModelForm]) -> type[forms.ModelForm]:
        meta = self.model._meta
        description = self.status_description or f"{meta.verbose_name} {meta.get_field(self.status_field).verbose_name}"
        return type(form_class.__name__, (StatusTransitionForm, form_class), {
            "status_transitions": self.status_transitions,
            "status_field": self.status_field,
            "status_description": description,
        })
