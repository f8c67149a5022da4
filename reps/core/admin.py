import datetime
import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.db import models
from django.utils import timezone

from reps.tenancy.admin import TenantAdmin

from . import outbox
from .dates import wall_clock
from .models import OutboxMessage


def local_time_column(field_name: str, description: str) -> Any:
    """A list column (or read-only field) of a tenant row's `field_name` on its gym's clock, with the zone's
    abbreviation, sorted by the field: the admin's lists show every gym's rows, each in its own zone.

    Select the gym with the rows (list_select_related), or each row costs a query.
    """

    @admin.display(description=description, ordering=field_name)
    def column(row: Any) -> str | None:
        moment = getattr(row, field_name)
        return wall_clock(moment, row.gym.tzinfo) if moment else None  # None: the admin's empty value

    column.__name__ = f"{field_name}_local"
    return column


class DeliveryState(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [("pending", "Pending"), ("sent", "Sent"), ("failed", "Failed")]

    def queryset(self, request: Any, queryset: Any) -> Any:
        return {
            "pending": queryset.filter(sent_at__isnull=True, failed_at__isnull=True),
            "sent": queryset.filter(sent_at__isnull=False),
            "failed": queryset.filter(failed_at__isnull=False),
        }.get(self.value() or "", queryset)


class When(admin.SimpleListFilter):
    """Upcoming (the default), today, this week, past, or all: on the page's clock (a workspace's, its gym's;
    the platform admin's, UTC). Cheap on any table: a range of the field, which an index orders."""

    title = "when"
    parameter_name = "when"
    field = "scheduled_time"
    default = "upcoming"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [("upcoming", "Upcoming"), ("today", "Today"), ("week", "This week"), ("past", "Past"),
                ("all", "All")]

    def value(self) -> Any:
        value = super().value() or self.default
        if value not in {lookup for lookup, _ in self.lookup_choices}:
            raise IncorrectLookupParameters(f"{value!r} is not a choice of when.")
        return value

    @classmethod
    def ordering(cls, request: Any) -> tuple[str, ...]:
        """The list's order for the admin's get_ordering(): upcoming ones soonest first (the work ahead);
        past ones, and all, the latest first."""
        past = (request.GET.get(cls.parameter_name) or cls.default) in ("past", "all")
        return (f"-{cls.field}",) if past else (cls.field,)

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {"selected": self.value() == lookup, "display": title,
                   "query_string": changelist.get_query_string({self.parameter_name: lookup})}

    def queryset(self, request: Any, queryset: Any) -> Any:
        now = timezone.localtime()
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        week = today - datetime.timedelta(days=today.weekday())
        ranges = {"upcoming": (now, None), "today": (today, today + datetime.timedelta(days=1)),
                  "week": (week, week + datetime.timedelta(days=7)), "past": (None, now)}
        start, end = ranges.get(self.value(), (None, None))
        if start is not None:
            queryset = queryset.filter(**{f"{self.field}__gte": start})
        if end is not None:
            queryset = queryset.filter(**{f"{self.field}__lt": end})
        return queryset


class CallWhen(When):
    """Calls by their start: all of them by default, the newest first."""

    field = "start_time"
    default = "all"


class SendWhen(When):
    """Notifications by when they are (or were) to be sent: all of them by default, the latest first."""

    field = "send_at"
    default = "all"


class Topic(admin.SimpleListFilter):
    """The outbox's topics, as its subscribers name them (the choices of a topic's filter were every
    message's topic, read from the whole outbox, which keeps every message)."""

    title = "topic"
    parameter_name = "topic"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [(topic, topic) for topic in sorted({topic for topic, _ in outbox.SUBSCRIBERS})]

    def queryset(self, request: Any, queryset: Any) -> Any:
        return queryset.filter(topic=self.value()) if self.value() else queryset


class ReadableJSONField(forms.JSONField):
    """JSON shown indented, an item a line: a call's utterances are not one line of 5,000 characters."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value  # what was typed, shown again with its error
        return json.dumps(value, ensure_ascii=False, cls=self.encoder, indent=2)


# For an admin's formfield_overrides.
READABLE_JSON: dict[type[models.Field], dict[str, Any]] = {models.JSONField: {"form_class": ReadableJSONField}}


@admin.register(OutboxMessage)
class OutboxMessageAdmin(TenantAdmin):
    list_display = ("topic", "gym", "created_at", "state", "attempts", "next_attempt_at", "sent_at", "failed_at")
    # The newest first (the model keeps the oldest first, the order of delivery): outbox_created_id_idx.
    ordering = ("-created_at",)
    list_filter = (DeliveryState, Topic, "gym")
    readonly_fields = ("created_at",)
    actions = ["retry_delivery"]

    @admin.action(description="Retry delivering the selected failed messages")
    def retry_delivery(self, request: Any, queryset: Any) -> None:
        retried = outbox.retry(queryset)
        self.message_user(request, f"{retried} failed message(s) will be delivered again.", messages.SUCCESS)
