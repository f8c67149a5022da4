"""The bases of every serializer that reads a request body: nothing sent is silently ignored.

A field the serializer does not take is a 400 naming it (and listing what it
takes); a read-only field is a 400 that says where that value is changed
(`read_only_hints`, e.g. {"status": "POST /api/v1/calls/{id}/status/"}).
Nested serializers check their own part of the body the same way.
"""

from collections.abc import Mapping
from typing import Any, ClassVar

from rest_framework import serializers

# Sent by the browsable API's HTML forms beside the fields: not data.
FORM_KEYS = frozenset({"csrfmiddlewaretoken"})
SET_BY_SERVER = "Read-only: the server sets it."


class StrictFieldsMixin:
    read_only_hints: ClassVar[dict[str, str]] = {}

    fields: Any

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            self.refuse_unknown_fields(data)
        return super().to_internal_value(data)  # type: ignore[misc]

    def refuse_unknown_fields(self, data: Mapping[str, Any]) -> None:
        writable = sorted(name for name, field in self.fields.items() if not field.read_only)
        errors = {}
        for name in data:
            if name in writable or name in FORM_KEYS:
                continue
            if name in self.fields:
                hint = self.read_only_hints.get(name)
                errors[name] = [f"Read-only here: change it with {hint}." if hint else SET_BY_SERVER]
            else:
                takes = ", ".join(writable) or "no fields"
                errors[name] = [f"Unknown field; this takes: {takes}."]
        if errors:
            raise serializers.ValidationError(errors)


class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    pass


class StrictModelSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    pass


class NoBodySerializer(StrictSerializer):
    """The body of an endpoint that takes none: any field in it is a 400."""
