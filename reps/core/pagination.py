"""Bounded pages, by number (with a total count) or by cursor (keyset).

`?page=N&page_size=M` numbers pages; `?pagination=cursor` starts cursor mode
and each response's `next` link carries `?cursor=...`. A cursor page is a
keyset query (WHERE created_at < last seen), so page 1,000 costs what page 1
does and no COUNT runs.
"""

from django.conf import settings
from rest_framework.pagination import CursorPagination, PageNumberPagination


class NumberedPages(PageNumberPagination):
    page_size_query_param = "page_size"

    def __init__(self):
        self.page_size = settings.API_PAGE_SIZE
        self.max_page_size = settings.API_MAX_PAGE_SIZE


class CursorPages(CursorPagination):
    page_size_query_param = "page_size"
    ordering = ("-created_at", "-id")

    def __init__(self):
        self.page_size = settings.API_PAGE_SIZE
        self.max_page_size = settings.API_MAX_PAGE_SIZE


class Pagination:
    """Numbered pages unless the request asks for cursor pages."""

    query_params = ("page", "page_size", "cursor", "pagination")

    def __init__(self):
        self.numbered, self.cursor = NumberedPages(), CursorPages()
        self.active = self.numbered

    def paginate_queryset(self, queryset, request, view=None):
        from rest_framework.exceptions import ValidationError

        mode = request.query_params.get("pagination")
        if mode not in (None, "", "page", "cursor"):
            raise ValidationError({"pagination": ["Choose 'page' or 'cursor'."]})
        size = request.query_params.get("page_size")
        if size is not None and not (size.isdigit() and int(size) >= 1):
            raise ValidationError({"page_size": [f"A whole number from 1 (at most {settings.API_MAX_PAGE_SIZE} are sent)."]})
        use_cursor = mode == "cursor" or "cursor" in request.query_params
        self.active = self.cursor if use_cursor else self.numbered
        if use_cursor:
            self.cursor.ordering = getattr(view, "cursor_ordering", CursorPages.ordering)
        return self.active.paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        return self.active.get_paginated_response(data)

    def get_paginated_response_schema(self, schema):
        numbered = self.numbered.get_paginated_response_schema(schema)
        numbered["description"] = "Numbered pages; in cursor mode there is no `count`."
        numbered["required"] = [name for name in numbered.get("required", []) if name != "count"]
        return numbered

    def get_schema_operation_parameters(self, view):
        return self.numbered.get_schema_operation_parameters(view) + [
            parameter
            for parameter in self.cursor.get_schema_operation_parameters(view)
            if parameter["name"] != "page_size"
        ] + [
            {
                "name": "pagination",
                "required": False,
                "in": "query",
                "description": "'cursor' for keyset pages (cheap at any depth, no count); 'page' by default.",
                "schema": {"type": "string", "enum": ["page", "cursor"]},
            }
        ]

    # The browsable API asks for these.
    def to_html(self):
        return self.active.to_html()

    @property
    def display_page_controls(self):
        return self.active.display_page_controls

    def get_results(self, data):
        return data["results"]
