import django_filters

from leads.models import Lead
from reps.core.filters import ChoicesFilter, MomentFilter, StrictBooleanFilter
from reps.tenancy.api import GymModelChoiceFilter

from .choices import CallOutcome, CallStatus, CampaignStatus
from .models import CallLog, Campaign


class CallLogFilter(django_filters.FilterSet):
    status = ChoicesFilter(choices=CallStatus.choices)
    outcome = ChoicesFilter(choices=CallOutcome.choices)
    lead = GymModelChoiceFilter(model=Lead)
    campaign = GymModelChoiceFilter(model=Campaign)
    is_ai_call = StrictBooleanFilter(label="Placed by the AI agent")
    start_after = MomentFilter(field_name="start_time", lookup_expr="gte", label="Starting at or after")
    start_before = MomentFilter(field_name="start_time", lookup_expr="lt", label="Starting before")

    class Meta:
        model = CallLog
        fields = ["status", "outcome", "lead", "campaign", "is_ai_call", "start_after", "start_before"]


class CampaignFilter(django_filters.FilterSet):
    status = ChoicesFilter(choices=CampaignStatus.choices)

    class Meta:
        model = Campaign
        fields = ["status"]
