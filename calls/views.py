from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from leads.views import DATE_RANGE, LIMIT
from reps.core import repositories
from reps.core.api import TenantCrudViewSet, date_range_params, int_param
from reps.core.permissions import MANAGERS

from .filters import CallLogFilter, CampaignFilter
from .models import CallLog, Campaign
from .serializers import (
    CallLogDetailSerializer,
    CallLogSerializer,
    CallMetricsSerializer,
    CallStatusSerializer,
    CampaignSerializer,
)
from .services import update_call_status


@extend_schema(tags=["calls"])
class CallLogViewSet(TenantCrudViewSet):
    model = CallLog
    serializer_class = CallLogSerializer
    filterset_class = CallLogFilter
    ordering_fields = ["start_time", "created_at", "duration", "status"]
    ordering = ["-created_at"]

    def shape_queryset(self, calls):
        return calls.with_transcript() if self.action == "retrieve" else calls

    def get_serializer_class(self):
        if self.action == "retrieve":
            return CallLogDetailSerializer
        if self.action == "status":
            return CallStatusSerializer
        return CallLogSerializer

    @extend_schema(parameters=LIMIT, responses=CallLogSerializer(many=True))
    @action(detail=False)
    def upcoming(self, request):
        """Scheduled calls still to come, soonest first."""
        calls = repositories.calls(self.gym_id).upcoming(int_param(request, "limit", 20))
        return Response(CallLogSerializer(calls, many=True, context=self.get_serializer_context()).data)

    @extend_schema(parameters=DATE_RANGE, responses=CallMetricsSerializer)
    @action(detail=False)
    def metrics(self, request):
        """Calls started over a range of the gym's local days: total, average duration, outcomes."""
        repository = repositories.calls(self.gym_id)
        start, end = date_range_params(request, repository.objects.scoped_gym().timezone)
        return Response(repository.metrics(start, end))

    @extend_schema(request=CallStatusSerializer, responses=CallLogSerializer)
    @action(detail=True, methods=["post"])
    def status(self, request, pk=None):
        """Move the call to a new status; completing it stamps its end time and duration."""
        call = self.get_object()
        payload = CallStatusSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        call = update_call_status(gym=self.gym_id, call_id=call.pk, status=payload.validated_data["status"])
        return Response(CallLogSerializer(call, context=self.get_serializer_context()).data)


@extend_schema(tags=["campaigns"])
class CampaignViewSet(TenantCrudViewSet):
    model = Campaign
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilter
    ordering_fields = ["name", "created_at", "starts_on"]
    ordering = ["-created_at"]
    write_roles = MANAGERS
