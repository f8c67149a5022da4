"""Query-string handling that refuses what it does not understand.

DRF's OrderingFilter ignores unknown fields and django-filter ignores unknown
parameters; a typo then silently returns the wrong rows. Here both are 400s
that name the bad parameter and list the good ones.
"""

from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend, OrderingFilter

from .pagination import Pagination

# Parameters every list understands besides its filters.
COMMON_PARAMS = {"ordering", "format", *Pagination.query_params}


class StrictQueryParams(BaseFilterBackend):
    def filter_queryset(self, request, queryset, view):
        allowed = set(COMMON_PARAMS) | set(getattr(view, "extra_query_params", ()))
        filterset_class = getattr(view, "filterset_class", None)
        if filterset_class is not None:
            allowed |= set(filterset_class.base_filters)
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise ValidationError(
                {name: [f"Unknown parameter; this list takes: {', '.join(sorted(allowed))}."] for name in unknown}
            )
        return queryset


class StrictOrderingFilter(OrderingFilter):
    """Ordering by the view's `ordering_fields` only; anything else is a 400."""

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if params:
            fields = [field.strip() for field in params.split(",") if field.strip()]
            valid = {name for name, _ in self.get_valid_fields(queryset, view, {"request": request})}
            unknown = [field for field in fields if field.lstrip("-") not in valid]
            if unknown:
                raise ValidationError(
                    {self.ordering_param: [f"Cannot order by {unknown[0]!r}; choose from {', '.join(sorted(valid))}."]}
                )
            # The primary key breaks ties, so pages never overlap or skip.
            return fields + ["-id" if fields[-1].startswith("-") else "id"]
        return self.get_default_ordering(view)

    def filter_queryset(self, request, queryset, view):
        if not request.query_params.get(self.ordering_param) and queryset.query.order_by:
            return queryset  # a filter ordered it already (search relevance)
        return super().filter_queryset(request, queryset, view)
