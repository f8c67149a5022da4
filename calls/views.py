import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from leads.views import DATE_RANGE, DATE_RANGE_PARAMS, LIMIT, LIMIT_PARAMS
from reps.core.filters import date_range_params, int_param
from reps.core.parsers import load_json
from reps.core.permissions import MANAGERS
from reps.tenancy.api import GymAPIView, TenantCrudViewSet

from .choices import WebhookStatus
from .filters import CallLogFilter, CampaignFilter
from .models import CallLog, Campaign
from .querysets import call_repository
from .serializers import (
    CallLogDetailSerializer,
    CallLogSerializer,
    CallMetricsSerializer,
    CallStatusSerializer,
    CampaignSerializer,
    QueueCallsSerializer,
    QueueReportSerializer,
)
from .services import queue_ai_calls, update_call_status
from .voice import PlatformError, SignatureError, verify
from .webhooks import handle_event, refresh_recording, resolve_event, signing_keys


@extend_schema(tags=["calls"])
class CallLogViewSet(TenantCrudViewSet):
    model = CallLog
    serializer_class = CallLogSerializer
    filterset_class = CallLogFilter
    ordering_fields = ["start_time", "created_at", "duration", "status"]
    ordering = ["-created_at"]

    def shape_queryset(self, calls: Any) -> Any:
        return calls.with_transcript() if self.action == "retrieve" else calls

    def get_serializer_class(self) -> Any:
        if self.action == "retrieve":
            return CallLogDetailSerializer
        if self.action == "status":
            return CallStatusSerializer
        return CallLogSerializer

    @extend_schema(parameters=LIMIT, responses=CallLogSerializer(many=True))
    @action(detail=False, pagination_class=None, filter_backends=[], extra_query_params=LIMIT_PARAMS)
    def upcoming(self, request: Request) -> Response:
        """Scheduled calls still to come, soonest first."""
        calls = call_repository(self.gym_id).upcoming(int_param(request, "limit", 20))
        return Response(CallLogSerializer(calls, many=True, context=self.get_serializer_context()).data)

    @extend_schema(parameters=DATE_RANGE, responses=CallMetricsSerializer)
    @action(detail=False, extra_query_params=DATE_RANGE_PARAMS)
    def metrics(self, request: Request) -> Response:
        """Calls started over a range of the gym's local days: total, average duration, outcomes."""
        start, end = date_range_params(request)
        return Response(call_repository(self.gym_id).metrics(start, end))

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT,
                                            502: OpenApiResponse(description="The voice platform did not answer.")})
    @action(detail=True, methods=["get"])
    def recording(self, request: Request, pk: Any = None) -> Response:
        """The call's recording link, fresh from the voice platform (its links are signed and expire)."""
        call_log = self.get_object()
        if not call_log.retell_call_id:  # not made through the platform: what was recorded by hand, if anything
            return Response({"recording_url": call_log.recording_url})
        try:
            url = refresh_recording(call_log)
        except PlatformError as error:  # its details (a key refused...) are the platform admin's: in the log
            logger.warning("Voice platform: the recording of %s could not be fetched: %s", call_log.pk, error)
            raise PlatformUnavailable("The voice platform did not give the recording: try again later.") from None
        return Response({"recording_url": url})

    @extend_schema(request=CallStatusSerializer, responses=CallLogSerializer)
    @action(detail=True, methods=["post"])
    def status(self, request: Request, pk: Any = None) -> Response:
        """Move the call to a new status; completing it stamps its end time and duration."""
        call = self.get_object()
        payload = CallStatusSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        call = update_call_status(gym=self.gym_id, call_id=call.pk, status=payload.validated_data["status"])
        return Response(CallLogSerializer(call, context=self.get_serializer_context()).data)


logger = logging.getLogger("reps.voice")


class PlatformUnavailable(APIException):
    status_code = 502
    default_code = "voice_platform_unavailable"


@extend_schema(tags=["campaigns"])
class CampaignViewSet(TenantCrudViewSet):
    model = Campaign
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilter
    ordering_fields = ["name", "created_at", "starts_on"]
    ordering = ["-created_at"]
    write_roles = MANAGERS


@extend_schema(
    tags=["webhooks"], request={"application/json": OpenApiTypes.OBJECT}, auth=[],
    responses={200: OpenApiTypes.OBJECT, 400: OpenApiResponse(description="Not a voice-platform event."),
               401: OpenApiResponse(description="Unsigned, badly signed or stale.")},
)
class RetellWebhookView(GymAPIView):
    """Events from the voice platform (Retell): call_started, call_ended, call_analyzed and the rest.

    Signed with X-Retell-Signature (v=<unix ms>,d=<hex HMAC-SHA256 of the raw body and the ms>); an
    unsigned, badly signed or stale request is a 401 and writes nothing. Each event is applied once.
    """

    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        body = request.body  # the raw bytes: the signature covers them, not re-serialized JSON
        payload = load_json(body)
        with transaction.atomic():  # resolved once: checked with the key of the gym it is applied to
            try:
                resolved, problem = resolve_event(payload), None
            except ValidationError as error:
                resolved, problem = None, error
            try:
                verify(body, request.headers.get("X-Retell-Signature"), signing_keys(resolved and resolved.gym))
            except SignatureError as error:
                raise AuthenticationFailed(str(error)) from None
            if resolved is None:
                raise problem or ValidationError("No event.")  # signed, but no event we can read: a 400
            record = handle_event(resolved, payload)
        # Applied: this delivery changed our data (not a repeat, nor an event kept for review or ignored).
        return Response({"received": True, "applied": record is not None and record.status == WebhookStatus.PROCESSED,
                         "status": record.status if record else "duplicate"})

    def get_authenticate_header(self, request: Request) -> str:
        return "X-Retell-Signature"


@extend_schema(tags=["calls"], request=QueueCallsSerializer, responses={201: QueueReportSerializer})
class QueueCallsView(GymAPIView):
    """Queue AI calls for leads, or for every open lead with consent (a campaign), within calling hours."""

    model = CallLog

    def post(self, request: Request) -> Response:
        payload = QueueCallsSerializer(data=request.data, context=self.get_serializer_context())
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        report = queue_ai_calls(
            gym=self.gym_id,
            lead_ids=[lead.pk for lead in data["leads"]] if data.get("leads") else None,
            campaign_id=data["campaign"].pk if data.get("campaign") else None,
            at=data.get("at"),
        )
        return Response(report, status=201)
