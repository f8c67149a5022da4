"""The bases of every serializer that reads a request body: nothing sent is silently ignored.

A field the serializer does not take is a 400 naming it (and listing what it
takes); a read-only field is a 400 that says where that value is changed
(`read_only_hints`, e.g. {"status": "POST /api/v1/calls/{id}/status/"}).
Nested serializers check their own part of the body the same way.
"""

import datetime
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import ISO_8601, serializers
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

# The moments the API reads: wide for any gym, and each one a moment PostgreSQL and Python both hold in
# every time zone (late on 9999-12-31 a New York time is already past year 9999 in UTC).
FIRST_MOMENT = datetime.datetime(1900, 1, 1, tzinfo=datetime.UTC)
LAST_MOMENT = datetime.datetime(3000, 1, 1, tzinfo=datetime.UTC)

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


class MomentField(serializers.DateTimeField):
    """An ISO 8601 date and time, read as a moment in UTC; answered in the gym's time zone with its offset.

    Without an offset it is read in the gym's time zone (the request's active
    one), where it must exist: a time the clocks skip is a 400, and so is one
    they pass twice, which needs its offset. Read in UTC, a moment's
    arithmetic (an appointment's default end) is in real time, not on the
    gym's wall clock.
    """

    default_error_messages = {
        **serializers.DateTimeField.default_error_messages,
        "out_of_range": f"Use a moment from {FIRST_MOMENT:%Y} to {LAST_MOMENT.year - 1}.",
        "skipped": "{value} does not exist in {zone}: the clocks skip it. Give the time with its offset.",
        "twice": "{value} happens twice in {zone} (the clocks go back): give the time with its offset.",
    }

    def to_internal_value(self, value: Any) -> datetime.datetime:
        parsed = value if isinstance(value, datetime.datetime) else None
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:  # well formed, but no date (February 30)
                parsed = None
        if parsed is None:
            return super().to_internal_value(value)  # fails with DRF's message
        if timezone.is_naive(parsed):
            parsed = self.in_gym_zone(parsed)
        try:
            moment = parsed.astimezone(datetime.UTC)
        except OverflowError:
            self.fail("out_of_range")
        if not FIRST_MOMENT <= moment < LAST_MOMENT:
            self.fail("out_of_range")
        return moment

    def in_gym_zone(self, wall_time: datetime.datetime) -> datetime.datetime:
        zone = timezone.get_current_timezone()
        first, second = wall_time.replace(tzinfo=zone, fold=0), wall_time.replace(tzinfo=zone, fold=1)
        try:
            back = first.astimezone(datetime.UTC).astimezone(zone).replace(tzinfo=None)
        except OverflowError:
            self.fail("out_of_range")
        if back != wall_time:
            self.fail("skipped", value=wall_time.isoformat(), zone=zone)
        if first.utcoffset() != second.utcoffset():
            self.fail("twice", value=wall_time.isoformat(), zone=zone)
        return first


class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    pass


class StrictModelSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A model serializer that reads nothing it was not given, and writes its rows' answers quickly.

    A page of 100 leads went through DRF's per-field get_attribute() and to_representation() 1,800
    times (about 5 ms); here a plain column is read once and answered as it is, a moment is put in the
    gym's time zone once, and any other field (relations, methods, nested serializers) still goes
    through DRF. The answer is the same JSON (reps/core/tests/test_serializers.py compares them).
    """

    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping,
                                models.DateTimeField: MomentField}

    def to_representation(self, instance: Any) -> Any:
        if isinstance(instance, Mapping):  # validated data, not a row
            return super().to_representation(instance)
        plan = self.__dict__.get("_plan")
        if plan is None:
            columns = self._columns()
            plan = self.__dict__["_plan"] = [self._plan_of(field, columns) for field in self._readable_fields]
        zone = timezone.get_current_timezone()
        answer: dict[str, Any] = {}
        for name, attribute, kind, field in plan:
            value = getattr(instance, attribute, MISSING) if kind is not None else MISSING
            if value is MISSING:  # DRF's way: a relation, a method, a nested serializer, a missing attribute
                try:
                    value = field.get_attribute(instance)
                except serializers.SkipField:
                    continue
                present = value.pk if isinstance(value, PKOnlyObject) else value
                answer[name] = None if present is None else field.to_representation(value)
            elif value is None:
                answer[name] = None
            elif kind is datetime.datetime and type(value) is datetime.datetime and value.tzinfo is not None:
                try:
                    text = value.astimezone(zone).isoformat()
                except OverflowError:  # DRF's own error for it
                    answer[name] = field.to_representation(value)
                    continue
                answer[name] = text[:-6] + "Z" if text.endswith("+00:00") else text
            elif kind is uuid.UUID and type(value) is uuid.UUID:
                answer[name] = str(value)
            elif type(value) is kind:
                answer[name] = value
            else:
                answer[name] = field.to_representation(value)
        return answer

    @staticmethod
    def _plan_of(field: serializers.Field, columns: set[str]) -> tuple[str, str, type | None, serializers.Field]:
        """(name, attribute, the type answered as it is or how, field); no type: DRF's own way.

        Only the model's own columns: a method or property (DRF calls those) goes DRF's way.
        """
        source = field.source_attrs
        kind: type | None = None
        if len(source) == 1 and source[0] in columns:
            if type(field) is MomentField:
                if getattr(field, "format", api_settings.DATETIME_FORMAT).lower() == ISO_8601 and not hasattr(field, "timezone"):
                    kind = datetime.datetime
            elif type(field) is serializers.UUIDField:
                kind = uuid.UUID if field.uuid_format == "hex_verbose" else None
            elif type(field) is serializers.ChoiceField:
                kind = str if all(type(key) is str for key in field.choices) else None
            else:
                kind = AS_IS.get(type(field))
        return str(field.field_name), source[0] if kind else "", kind, field

    def _columns(self) -> set[str]:
        """The names of the model's columns: the attributes that are plain values, never methods."""
        model = getattr(getattr(self, "Meta", None), "model", None)
        return {name for field in model._meta.concrete_fields for name in (field.name, field.attname)} if model else set()


# Fields whose answer is the attribute itself when it has exactly this type (DRF's to_representation
# returns such a value unchanged).
AS_IS: dict[type, type] = {serializers.CharField: str, serializers.EmailField: str, serializers.BooleanField: bool,
                           serializers.IntegerField: int}
MISSING = object()


class NoBodySerializer(StrictSerializer):
    """The body of an endpoint that takes none: any field in it is a 400."""
