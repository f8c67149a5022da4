from typing import Any

import django_filters

from reps.core.filters import StrictBooleanFilter

from .models import Branch, KnowledgeBaseEntry


class BranchFilter(django_filters.FilterSet):
    city = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Branch
        fields = ["city"]


class KnowledgeBaseEntryFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="full_text", label="Full-text search over title and content")
    is_active = StrictBooleanFilter(label="Active")

    class Meta:
        model = KnowledgeBaseEntry
        fields = ["category", "is_active"]

    def full_text(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.matching(value)
