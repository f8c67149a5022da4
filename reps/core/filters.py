"""Query-string handling that refuses what it does not understand.

DRF's OrderingFilter ignores unknown fields, django-filter ignores unknown
parameters and malformed booleans; a typo then silently returns the wrong
rows. Here each is a 400 that names the bad parameter and lists the good ones
(the unknown-parameter check itself is in the API base,
reps.tenancy.api.GymAPIView.check_query_params).
"""

import datetime
import re
from typing import Any

import django_filters
from django.db.models import F, QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request

from .pagination import Pagination

# What every list takes besides its filters.
LIST_PARAMS = frozenset({"ordering", *Pagination.query_params})

# Dates the API reads: wide for any dashboard, and every local day of them is a moment PostgreSQL and Python
# both hold in every time zone (9999-12-31 has no next day, 0001-01-01 no UTC start east of Greenwich).
FIRST_DATE, LAST_DATE = datetime.date(1900, 1, 1), datetime.date(2999, 12, 31)


def ordering_terms(model: Any, fields: list[str]) -> list[Any]:
    """order_by() terms for "name" / "-name" fields: a nullable column puts its empty values last either way."""
    terms: list[Any] = []
    for name in fields:
        descending, column = name.startswith("-"), name.removeprefix("-")
        field = model._meta.get_field("id" if column == "pk" else column)
        if getattr(field, "null", False):
            expression = F(column)
            terms.append(expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True))
        else:
            terms.append(name)
    return terms


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, which builds no FilterSet (a form, and a deep copy of every filter) for a
    request that names none of its filters: about 1 ms of every plain list. None of the filters has a
    default, so without their parameters the rows are the same."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None and set(request.query_params).isdisjoint(filterset_class.base_filters):
            return queryset
        return super().filter_queryset(request, queryset, view)


class StrictOrderingFilter(OrderingFilter):
    """Ordering by the view's `ordering_fields` only; anything else is a 400.

    The primary key breaks ties (pages never overlap or skip), and rows
    without a value in a nullable column come last in either direction.
    """

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: Any) -> list[str]:
        params = request.query_params.get(self.ordering_param)
        if params:
            fields = [field.strip() for field in params.split(",") if field.strip()]
            valid = {name for name, _ in self.get_valid_fields(queryset, view, {"request": request})}
            unknown = [field for field in fields if field.removeprefix("-") not in valid]
            if unknown:
                raise ValidationError(
                    {self.ordering_param: [f"Cannot order by {unknown[0]!r}; choose from {', '.join(sorted(valid))}."]}
                )
        else:
            fields = list(self.get_default_ordering(view) or ())
        if fields and fields[-1].removeprefix("-") not in ("id", "pk"):
            fields.append("-id" if fields[-1].startswith("-") else "id")
        return fields

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        if not request.query_params.get(self.ordering_param) and queryset.query.order_by:
            # A filter ordered it already (search relevance): the primary key still breaks its ties.
            ordering = list(queryset.query.order_by)
            return queryset if "id" in ordering or "-id" in ordering else queryset.order_by(*ordering, "id")
        fields = self.get_ordering(request, queryset, view)
        return queryset.order_by(*ordering_terms(queryset.model, fields)) if fields else queryset


class StrictBooleanFilter(django_filters.ChoiceFilter):
    """true or false (blank: either); anything else is a 400 (django-filter's BooleanFilter ignores it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("choices", [("true", "Yes"), ("false", "No")])
        kwargs.setdefault("empty_label", "Either")
        super().__init__(*args, **kwargs)

    def filter(self, qs: Any, value: Any) -> Any:
        if value in ("", None):
            return qs
        return super().filter(qs, value == "true")


class MomentFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date and time, compared in UTC; without an offset it is read in the gym's time zone.

    Python accepts offsets up to ±23:59, PostgreSQL only up to ±15:59: sent
    as it came, "+23:28" would be a database error (schemathesis found it).
    """

    def filter(self, qs: Any, value: Any) -> Any:
        if value is not None:
            try:
                value = value.astimezone(datetime.UTC)
            except OverflowError:
                name = next(name for name, one in self.parent.filters.items() if one is self)
                raise ValidationError({name: ["That moment is out of range."]}) from None
        return super().filter(qs, value)


def date_param(request: Request, name: str, default: datetime.date | None = None) -> datetime.date:
    """A YYYY-MM-DD query parameter as a date; a 400 naming it when malformed or out of range."""
    value = request.query_params.get(name)
    if value in (None, ""):
        if default is None:
            raise ValidationError({name: ["This parameter is required (YYYY-MM-DD)."]})
        return default
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):
            raise ValueError(value)  # fromisoformat also reads 20261101 and 2026-W44
        date = datetime.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError({name: [f"{value!r} is not a date; use YYYY-MM-DD."]}) from None
    if not FIRST_DATE <= date <= LAST_DATE:
        raise ValidationError({name: [f"Use a date from {FIRST_DATE} to {LAST_DATE}."]})
    return date


def int_param(request: Request, name: str, default: int, minimum: int = 1, maximum: int = 100) -> int:
    value = request.query_params.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(str(value))
    except ValueError:
        number = None
    if number is None or not minimum <= number <= maximum:
        raise ValidationError({name: [f"Must be a whole number from {minimum} to {maximum}."]})
    return number


def date_range_params(request: Request) -> tuple[datetime.date, datetime.date]:
    """?start=&end= (both inclusive local days); by default the 30 days up to today in the gym.

    Today is the gym's: the request's active time zone (the API base activates the gym's).
    """
    end = date_param(request, "end") if request.query_params.get("end") else None
    start = date_param(request, "start") if request.query_params.get("start") else None
    if end is None:
        end = timezone.localdate()
    if start is None:
        start = max(FIRST_DATE, end - datetime.timedelta(days=29))
    if start > end:
        raise ValidationError({"start": ["The start date is after the end date."]})
    return start, end


class ChoicesFilter(django_filters.MultipleChoiceFilter):
    """One of a column's choices, or several (?status=new&status=contacted), without DISTINCT.

    django-filter adds DISTINCT by default for to-many relations; on a column of the row itself there is
    nothing to de-duplicate, and the DISTINCT over every column (and its COUNT) made a filtered page of a
    100,000-lead gym 10x slower.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("distinct", False)
        super().__init__(*args, **kwargs)
