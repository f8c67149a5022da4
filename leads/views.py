from typing import Any

from django.db.models import Prefetch, prefetch_related_objects
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from reps.core.filters import date_range_params, int_param
from reps.core.permissions import MANAGERS
from reps.tenancy.api import GymAPIView, GymModelViewSet, GymReadOnlyViewSet, TenantCrudViewSet

from . import tasks
from .filters import LeadFilter, LeadTagFilter
from .models import Lead, LeadImport, LeadTag
from .querysets import LeadQuerySet, lead_repository
from .serializers import (
    RECENT_CALLS,
    LeadConsentSerializer,
    LeadDetailSerializer,
    LeadImportJobDetailSerializer,
    LeadImportJobSerializer,
    LeadImportReportSerializer,
    LeadImportSerializer,
    LeadSerializer,
    LeadStatusSerializer,
    LeadTagSerializer,
)
from .services import change_lead_status, delete_lead, record_consent, save_lead

DATE_RANGE = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="First local day, inclusive (default: 29 days before end)."),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last local day, inclusive (default: today in the gym)."),
]
DATE_RANGE_PARAMS = ("start", "end")
LIMIT = [OpenApiParameter("limit", OpenApiTypes.INT, description="How many, 1 to 100 (default 20).")]
LIMIT_PARAMS = ("limit",)


@extend_schema(tags=["leads"])
class LeadViewSet(GymModelViewSet):
    """A gym's leads. Sales staff mark a lead lost; only owners and managers delete one."""

    model = Lead
    serializer_class = LeadSerializer
    filterset_class = LeadFilter
    ordering_fields = ["created_at", "updated_at", "first_name", "last_name", "status", "engagement_score",
                       "last_interaction"]
    ordering = ["-created_at"]
    action_roles = {"destroy": MANAGERS}

    def shape_queryset(self, leads: Any) -> Any:
        if self.action == "retrieve":
            return leads.for_detail(RECENT_CALLS)
        # A write's answer reads its one lead's score and tags itself.
        return leads.for_list() if self.action == "list" else leads

    def get_object(self) -> Any:
        lead = super().get_object()
        return LeadQuerySet.loaded(lead) if self.action == "retrieve" else lead

    def get_serializer_class(self) -> Any:
        if self.action == "retrieve":
            return LeadDetailSerializer
        if self.action == "status":
            return LeadStatusSerializer
        if self.action == "consent":
            return LeadConsentSerializer
        return LeadSerializer

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = save_lead(gym=self.gym_id, data=serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = save_lead(gym=self.gym_id, lead_id=serializer.instance.pk, data=serializer.validated_data,
                                        actor=self.request.user)

    def perform_destroy(self, instance: Lead) -> None:
        delete_lead(gym=self.gym_id, lead_id=instance.pk)

    @extend_schema(request=LeadStatusSerializer, responses=LeadSerializer)
    @action(detail=True, methods=["post"])
    def status(self, request: Request, pk: Any = None) -> Response:
        """Move the lead to a new status (contacted, qualified, converted, lost; a lost lead may come back)."""
        lead = self.get_object()
        payload = LeadStatusSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        lead = change_lead_status(gym=self.gym_id, lead_id=lead.pk, status=payload.validated_data["status"])
        return Response(LeadSerializer(lead, context=self.get_serializer_context()).data)

    @extend_schema(request=LeadConsentSerializer, responses=LeadSerializer)
    @action(detail=True, methods=["post"])
    def consent(self, request: Request, pk: Any = None) -> Response:
        """Record the lead's consent to AI calls (and how), or that they asked not to be called.

        Anyone records a refusal; clearing a do-not-call takes an owner or a manager, with the consent.
        """
        lead = self.get_object()
        payload = LeadConsentSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        lead = record_consent(gym=self.gym_id, lead_id=lead.pk, actor=self.member, **payload.validated_data)
        return Response(LeadSerializer(lead, context=self.get_serializer_context()).data)

    @extend_schema(parameters=LIMIT, responses=LeadSerializer(many=True))
    @action(detail=False, pagination_class=None, filter_backends=[], extra_query_params=LIMIT_PARAMS)
    def prioritized(self, request: Request) -> Response:
        """Open leads most worth calling: best qualification score first, then newest."""
        leads = lead_repository(self.gym_id).prioritized(int_param(request, "limit", 20))
        prefetch_related_objects(leads, Prefetch("tags", queryset=LeadTag.objects.for_gym(self.gym_id)))
        return Response(LeadSerializer(leads, many=True, context=self.get_serializer_context()).data)

    @extend_schema(parameters=DATE_RANGE, responses={200: {"type": "object", "additionalProperties": {"type": "integer"}}})
    @action(detail=False, extra_query_params=DATE_RANGE_PARAMS)
    def stats(self, request: Request) -> Response:
        """Leads created per status over a range of the gym's local days."""
        start, end = date_range_params(request)
        return Response(lead_repository(self.gym_id).conversion_stats(start, end))

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=False)
    def dashboard(self, request: Request) -> Response:
        """Counts by status, leads per local day over the last 30 days, conversion rate by source."""
        return Response(lead_repository(self.gym_id).dashboard())


@extend_schema(tags=["leads"], request={"multipart/form-data": LeadImportSerializer},
               responses={200: LeadImportReportSerializer,
                          202: OpenApiResponse(LeadImportJobSerializer, description=(
                              "The file has more than LEAD_IMPORT_ASYNC_ROWS data rows: it is imported in the"
                              " background. The job's URL is in the Location header (and `url`): GET it for its"
                              " progress and, when done, its report."))})
class LeadImportView(GymAPIView):
    """Import leads from a CSV file (owners and managers). Bad rows are reported by line; the rest are imported.

    A file of up to LEAD_IMPORT_ASYNC_ROWS data rows (1,000 by default) is imported at once: 200 with the
    report. A bigger one becomes an import job: 202 with the job, which GET /api/v1/leads/imports/{id}/ shows.
    """

    model = Lead
    write_roles = MANAGERS
    parser_classes = [MultiPartParser]

    def post(self, request: Request) -> Response:
        payload = LeadImportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        report, job = tasks.import_upload(gym=self.gym_id, upload=payload.validated_data["file"],
                                          on_duplicate=payload.validated_data["on_duplicate"], created_by=self.member)
        if job is None:
            return Response(report)
        data = LeadImportJobSerializer(job, context=self.get_serializer_context()).data
        return Response(data, status=202, headers={"Location": data["url"]})


@extend_schema(tags=["leads"])
class LeadImportJobViewSet(GymReadOnlyViewSet):
    """The gym's import jobs (big files sent to POST /api/v1/leads/import/), newest first; owners and managers.

    A job's detail has, once it is done, the per-row report the synchronous import answers with.
    """

    model = LeadImport
    serializer_class = LeadImportJobSerializer
    read_roles = MANAGERS
    ordering_fields = ["created_at", "finished_at", "status"]
    ordering = ["-created_at"]

    def shape_queryset(self, jobs: Any) -> Any:
        return jobs.for_list() if self.action == "list" else jobs.for_detail()

    def get_serializer_class(self) -> Any:
        return LeadImportJobDetailSerializer if self.action == "retrieve" else LeadImportJobSerializer


@extend_schema(tags=["tags"])
class LeadTagViewSet(TenantCrudViewSet):
    model = LeadTag
    serializer_class = LeadTagSerializer
    filterset_class = LeadTagFilter
    ordering_fields = ["name", "created_at"]
    ordering = ["name"]
