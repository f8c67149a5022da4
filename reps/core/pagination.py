"""Bounded pages, by number (with a total count) or by cursor (keyset), that return every row exactly once.

`?page=N&page_size=M` numbers pages; `?pagination=cursor` starts cursor mode
and each response's `next` and `previous` links carry `?cursor=...`. A
cursor page is a keyset query over the list's own ordering, whatever it is
(`ordering=` or the list's default), down to the primary key that breaks
ties: page 1,000 costs what page 1 does, and no COUNT runs.

Rows whose ordering column is empty (a lead never contacted, a call not yet
timed) are ordered like PostgreSQL orders them (or as the ordering filter
asks: empty last) and paged like any other value; DRF's CursorPagination
compares with < and >, which NULL never satisfies, and dropped them.
"""

import base64
import binascii
import datetime
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import InvalidPage, Paginator
from django.db.models import F, OrderBy, Q, QuerySet
from django.template import loader
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param


def page_size(request: Request) -> int:
    """?page_size= (a whole number from 1; more than API_MAX_PAGE_SIZE sends that many), else API_PAGE_SIZE."""
    size = request.query_params.get("page_size")
    if size in (None, ""):
        return int(settings.API_PAGE_SIZE)
    if not (size.isascii() and size.isdigit() and int(size) >= 1):
        raise ValidationError({"page_size": [f"A whole number from 1 (at most {settings.API_MAX_PAGE_SIZE} are sent)."]})
    return min(int(size), int(settings.API_MAX_PAGE_SIZE))


# More rows than any list holds (and than PostgreSQL's LIMIT takes): a page past them is a 404 at once.
MAX_ROWS = 2**62


def rows_at(queryset: QuerySet[Any], offset: int, size: int) -> list[Any]:
    """The `size` rows from `offset` in the queryset's order; past the first rows, their ids are read first.

    OFFSET then skips index entries, not rows with everything a page loads beside them (joins,
    subqueries): page 501 of a gym's leads read 50,100 rows and their qualifications to show 100.
    """
    if offset <= 0:
        return list(queryset[:size])
    ids = list(queryset.values_list(queryset.model._meta.pk.attname, flat=True)[offset: offset + size])
    rows = {row.pk: row for row in queryset.filter(pk__in=ids).order_by()}
    return [rows[pk] for pk in ids if pk in rows]


class CountThatStops(Paginator):
    """Django's paginator, whose count stops one row after `stop_after` (None: it counts every row).

    Past the stop the count is a lower bound (`exact` is False), still enough to know whether the pages
    up to it exist and whether another follows them.
    """

    def __init__(self, rows: QuerySet[Any], per_page: int, stop_after: int | None) -> None:
        super().__init__(rows, per_page)
        self.rows, self.stop_after = rows, stop_after
        self.exact = True

    @cached_property
    def count(self) -> int:
        if self.stop_after is None:
            return super().count
        # Only the rows, in no order: what a page shows beside them (annotations) is not counted.
        counted: int = self.rows.order_by().values("pk")[: self.stop_after + 1].count()
        self.exact = counted <= self.stop_after
        return counted


class NumberedPages(PageNumberPagination):
    """?page=N (from 1, or "last"): a malformed number is a 400; a page past the end is a 404.

    `count` is exact up to API_COUNT_LIMIT rows, and on the last page; beyond, it says how many rows
    there are at least, with `"count_exact": false` (a gym's 100,000 leads took longer to count than a
    page took to read). `next` is right either way. Pages after the first read their ids first (rows_at);
    a first page with fewer rows than its size is the whole list, and needs no count.
    """

    page_size_query_param = "page_size"

    def __init__(self) -> None:
        self.page_size = settings.API_PAGE_SIZE
        self.max_page_size = settings.API_MAX_PAGE_SIZE

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        number = request.query_params.get(self.page_query_param) or "1"
        if number != "last" and not (number.isascii() and number.isdigit() and int(number) >= 1):
            raise ValidationError({self.page_query_param: ["A whole number from 1, or 'last'."]})
        self.request, size = request, page_size(request)
        if number != "last" and int(number) * size > MAX_ROWS:
            raise NotFound(f"No page {number}: no list has that many rows.")
        # Far enough to know whether this page exists and whether another follows it.
        stop_after = None if number == "last" else max(int(settings.API_COUNT_LIMIT), int(number) * size)
        self.paginator = paginator = CountThatStops(queryset, size, stop_after)
        first = None
        if number == "1":
            # A first page that is not full is the whole list: no COUNT (most searches, small lists).
            first = list(queryset[:size])
            if len(first) < size:
                paginator.__dict__["count"] = len(first)
        try:
            self.page = paginator.page(paginator.num_pages if number == "last" else int(number))
        except InvalidPage:  # past the end: then the count was not stopped
            raise NotFound(f"No page {number}: this list has {paginator.num_pages} (of {size} rows).") from None
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        return first if first is not None else rows_at(queryset, self.page.start_index() - 1, size)

    def get_paginated_response(self, data: Any) -> Response:
        paginator = self.paginator
        answer = {"count": paginator.count, "next": self.get_next_link(), "previous": self.get_previous_link(),
                  "results": data}
        if not paginator.exact:
            answer["count"] = paginator.stop_after
            answer["count_exact"] = False
        return Response(answer)

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        answer = super().get_paginated_response_schema(schema)
        answer["properties"]["count"]["description"] = (
            f"How many rows the list has: exact up to API_COUNT_LIMIT ({settings.API_COUNT_LIMIT}) and on the"
            " last page; beyond, how many at least (with count_exact false).")
        answer["properties"]["count_exact"] = {
            "type": "boolean", "description": "Present, and false, when count is a lower bound."}
        return answer


@dataclass(frozen=True)
class Term:
    """One column of a keyset ordering, and where its empty values sort."""

    name: str
    descending: bool
    nulls_last: bool
    nullable: bool

    def reversed(self) -> "Term":
        return Term(self.name, not self.descending, not self.nulls_last, self.nullable)

    def expression(self) -> OrderBy:
        placement = {"nulls_last": True} if self.nulls_last else {"nulls_first": True}
        return F(self.name).desc(**placement) if self.descending else F(self.name).asc(**placement)

    def label(self) -> str:
        return ("-" if self.descending else "") + self.name


def ordering_of(queryset: QuerySet[Any]) -> list[Term]:
    """The queryset's ordering as keyset terms, ending with the primary key (added when missing)."""
    model, terms = queryset.model, []
    for entry in queryset.query.order_by or model._meta.ordering:
        if isinstance(entry, str):
            descending, name = entry.startswith("-"), entry.removeprefix("-")
            nulls_last = not descending  # PostgreSQL's default: NULL sorts as the largest value
        elif isinstance(entry, OrderBy) and isinstance(entry.expression, F):
            descending, name = entry.descending, entry.expression.name
            nulls_last = bool(entry.nulls_last) if entry.nulls_last or entry.nulls_first else not descending
        else:
            raise TypeError(f"Keyset pages cannot follow the ordering {entry!r} of {model.__name__}.")
        name = model._meta.pk.name if name == "pk" else name
        try:
            nullable = bool(model._meta.get_field(name).null)
        except FieldDoesNotExist:
            nullable = False  # an annotation (a search's rank)
        terms.append(Term(name, descending, nulls_last, nullable))
        if name == model._meta.pk.name:
            return terms  # the primary key is unique: nothing after it orders anything
    return [*terms, Term(model._meta.pk.name, bool(terms) and terms[-1].descending, True, False)]


def after(terms: list[Term], values: list[Any]) -> Q:
    """Rows strictly after the position `values` in the order `terms`, NULLs where the ordering puts them."""
    term, value, rest = terms[0], values[0], terms[1:]
    if value is None:
        equal = Q(**{f"{term.name}__isnull": True})
        beyond = None if term.nulls_last else Q(**{f"{term.name}__isnull": False})
    else:
        equal = Q(**{term.name: value})
        beyond = Q(**{f"{term.name}__{'lt' if term.descending else 'gt'}": value})
        if term.nullable and term.nulls_last:
            beyond |= Q(**{f"{term.name}__isnull": True})
    if not rest:
        assert beyond is not None, "the last term is the primary key, never empty"
        return beyond
    tail = equal & after(rest, values[1:])
    return tail if beyond is None else beyond | tail


def bound(term: Term, value: Any) -> Q:
    """A condition implied by after() that an index on the first column can serve (the OR alone cannot)."""
    if term.nullable or value is None:
        return Q()
    return Q(**{f"{term.name}__{'lte' if term.descending else 'gte'}": value})


def encode_cursor(labels: list[str], position: list[Any], backwards: bool = False) -> str:
    """The cursor of the page after (or, backwards, before) `position`: the values of a row for `labels`."""
    token = json.dumps({"o": labels, "v": [encode_value(value) for value in position], "r": backwards},
                       separators=(",", ":"))
    return base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def encode_value(value: Any) -> Any:
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    return value


class KeysetPages(BasePagination):
    """?pagination=cursor: a page after (or before) the position its cursor names, in the list's ordering."""

    cursor_query_param = "cursor"
    template = "rest_framework/pagination/previous_and_next.html"
    display_page_controls = True

    def paginate_queryset(self, queryset: QuerySet[Any], request: Request, view: Any = None) -> list[Any]:
        self.request, self.size = request, page_size(request)
        terms = ordering_of(queryset)
        self.labels = [term.label() for term in terms]
        position, backwards = self.decode(request, queryset, terms)
        walk = [term.reversed() for term in terms] if backwards else terms
        rows = queryset.order_by(*[term.expression() for term in walk])
        if position is not None:
            rows = rows.filter(bound(walk[0], position[0]), after(walk, position))
        page = list(rows[: self.size + 1])
        more, page = len(page) > self.size, page[: self.size]
        if backwards:
            page.reverse()
        self.next_position = self.previous_position = None
        if page:
            first, last = (self.values_of(page[0], terms), self.values_of(page[-1], terms))
            if more or backwards:
                self.next_position = last
            if position is not None and (more or not backwards):
                self.previous_position = first
        elif position is not None:
            # Past the end (or before the start): the way back starts where this cursor pointed.
            self.next_position, self.previous_position = (position, None) if backwards else (None, position)
        return page

    @staticmethod
    def values_of(row: Any, terms: list[Term]) -> list[Any]:
        return [getattr(row, term.name) for term in terms]

    def decode(self, request: Request, queryset: QuerySet[Any], terms: list[Term]) -> tuple[list[Any] | None, bool]:
        token = request.query_params.get(self.cursor_query_param)
        if not token:
            return None, False
        invalid = ValidationError({self.cursor_query_param: [
            "Not a cursor of this list: follow the next and previous links, or start without a cursor."]})
        try:
            cursor = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
            labels, values, backwards = cursor["o"], cursor["v"], cursor["r"]
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, KeyError):
            raise invalid from None
        if labels != self.labels or not isinstance(values, list) or len(values) != len(terms):
            raise ValidationError({self.cursor_query_param: [
                "This cursor belongs to another ordering (or another list): start again without it."]})
        try:
            return [self.python_value(queryset, term, value) for term, value in zip(terms, values, strict=True)], bool(backwards)
        except (DjangoValidationError, ValueError, TypeError):
            raise invalid from None

    @staticmethod
    def python_value(queryset: QuerySet[Any], term: Term, value: Any) -> Any:
        if value is None:
            return None
        try:
            return queryset.model._meta.get_field(term.name).to_python(value)
        except FieldDoesNotExist:
            if not isinstance(value, (int, float, str)):
                raise ValueError(value) from None
            return value  # an annotation's number

    def link(self, position: list[Any] | None, backwards: bool) -> str | None:
        if position is None:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), "page")
        return replace_query_param(url, self.cursor_query_param, encode_cursor(self.labels, position, backwards))

    def get_next_link(self) -> str | None:
        return self.link(self.next_position, backwards=False)

    def get_previous_link(self) -> str | None:
        return self.link(self.previous_position, backwards=True)

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})

    def get_html_context(self) -> dict[str, Any]:
        return {"previous_url": self.get_previous_link(), "next_url": self.get_next_link()}

    def to_html(self) -> str:
        return loader.get_template(self.template).render(self.get_html_context())


class Pagination:
    """Numbered pages unless the request asks for cursor pages."""

    query_params = ("page", "page_size", "cursor", "pagination")

    def __init__(self) -> None:
        self.numbered, self.cursor = NumberedPages(), KeysetPages()
        self.active: Any = self.numbered

    def paginate_queryset(self, queryset: QuerySet[Any], request: Request, view: Any = None) -> Any:
        mode = request.query_params.get("pagination")
        if mode not in (None, "", "page", "cursor"):
            raise ValidationError({"pagination": ["Choose 'page' or 'cursor'."]})
        page_size(request)  # a malformed size is a 400 in either mode
        use_cursor = mode == "cursor" or "cursor" in request.query_params
        if use_cursor and "page" in request.query_params:
            raise ValidationError({"page": ["Cursor pages have no numbers: follow the next and previous links."]})
        self.active = self.cursor if use_cursor else self.numbered
        return self.active.paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data: Any) -> Response:
        return self.active.get_paginated_response(data)

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        numbered = self.numbered.get_paginated_response_schema(schema)
        numbered["description"] = "Numbered pages; in cursor mode there is no `count`."
        numbered["required"] = [name for name in numbered.get("required", []) if name != "count"]
        return numbered

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return self.numbered.get_schema_operation_parameters(view) + [
            {
                "name": "cursor",
                "required": False,
                "in": "query",
                "description": "The position of a cursor page: take it from a `next` or `previous` link.",
                "schema": {"type": "string"},
            },
            {
                "name": "pagination",
                "required": False,
                "in": "query",
                "description": "'cursor' for keyset pages (cheap at any depth, no count); 'page' by default.",
                "schema": {"type": "string", "enum": ["page", "cursor"]},
            },
        ]

    # The browsable API asks for these.
    def to_html(self) -> str:
        return self.active.to_html()

    @property
    def display_page_controls(self) -> bool:
        return bool(self.active.display_page_controls)

    def get_results(self, data: dict[str, Any]) -> Any:
        return data["results"]
