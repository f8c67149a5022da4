from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from leads.views import DATE_RANGE, DATE_RANGE_PARAMS, LIMIT, LIMIT_PARAMS
from reps.core.filters import date_range_params, int_param
from reps.tenancy.api import GymModelViewSet

from .filters import AppointmentFilter
from .models import Appointment
from .querysets import appointment_repository
from .serializers import AppointmentSerializer, AppointmentStatusSerializer, ConflictSerializer
from .services import book_appointment, delete_appointment, update_appointment, update_appointment_status

CONFLICT = OpenApiResponse(ConflictSerializer, description="The staff member is booked at that time.")


@extend_schema(tags=["appointments"])
@extend_schema_view(
    create=extend_schema(responses={201: AppointmentSerializer, 409: CONFLICT}),
    update=extend_schema(responses={200: AppointmentSerializer, 409: CONFLICT}),
    partial_update=extend_schema(responses={200: AppointmentSerializer, 409: CONFLICT}),
)
class AppointmentViewSet(GymModelViewSet):
    model = Appointment
    serializer_class = AppointmentSerializer
    filterset_class = AppointmentFilter
    ordering_fields = ["scheduled_time", "created_at", "status"]
    ordering = ["scheduled_time"]

    def get_serializer_class(self) -> Any:
        return AppointmentStatusSerializer if self.action == "status" else AppointmentSerializer

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = book_appointment(gym=self.gym_id, **serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = update_appointment(
            gym=self.gym_id, appointment_id=serializer.instance.pk, data=serializer.validated_data
        )

    def perform_destroy(self, instance: Appointment) -> None:
        delete_appointment(gym=self.gym_id, appointment_id=instance.pk)

    @extend_schema(parameters=LIMIT, responses=AppointmentSerializer(many=True))
    @action(detail=False, pagination_class=None, filter_backends=[], extra_query_params=LIMIT_PARAMS)
    def upcoming(self, request: Request) -> Response:
        """Scheduled or confirmed appointments still to come, soonest first."""
        appointments = appointment_repository(self.gym_id).upcoming(int_param(request, "limit", 20))
        return Response(AppointmentSerializer(appointments, many=True, context=self.get_serializer_context()).data)

    @extend_schema(parameters=DATE_RANGE, responses={200: {"type": "object", "additionalProperties": {"type": "integer"}}})
    @action(detail=False, extra_query_params=DATE_RANGE_PARAMS)
    def stats(self, request: Request) -> Response:
        """Appointments per status over a range of the gym's local days."""
        start, end = date_range_params(request)
        return Response(appointment_repository(self.gym_id).stats(start, end))

    @extend_schema(request=AppointmentStatusSerializer, responses={200: AppointmentSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def status(self, request: Request, pk: Any = None) -> Response:
        """Move the appointment to a new status (confirm, complete, cancel, no-show, reopen)."""
        appointment = self.get_object()
        payload = AppointmentStatusSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        appointment = update_appointment_status(
            gym=self.gym_id, appointment_id=appointment.pk, status=payload.validated_data["status"]
        )
        return Response(AppointmentSerializer(appointment, context=self.get_serializer_context()).data)
