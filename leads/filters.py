from typing import Any

import django_filters

from gyms.models import Branch
from reps.core.filters import ChoicesFilter, MomentFilter, StrictBooleanFilter
from reps.tenancy.api import GymModelChoiceFilter

from .choices import LeadStatus
from .models import Lead, LeadTag


class LeadFilter(django_filters.FilterSet):
    status = ChoicesFilter(choices=LeadStatus.choices, help_text="Repeat for several.")
    source = django_filters.CharFilter(lookup_expr="iexact")
    branch = GymModelChoiceFilter(model=Branch)
    tag = GymModelChoiceFilter(model=LeadTag, field_name="tags")
    created_after = MomentFilter(field_name="created_at", lookup_expr="gte", label="Created at or after")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt", label="Created before")
    has_qualification = StrictBooleanFilter(field_name="qualification", lookup_expr="isnull", exclude=True,
                                            label="Has a qualification")
    search = django_filters.CharFilter(method="search_leads", label="Search",
                                       help_text="Name, email or phone fragment (at most 10 words, 200 characters).")

    class Meta:
        model = Lead
        fields = ["status", "source", "branch", "tag", "created_after", "created_before", "has_qualification"]

    def search_leads(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.matching(value)


class LeadTagFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = LeadTag
        fields = ["name"]
