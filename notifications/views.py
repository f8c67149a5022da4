from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from reps.core.permissions import MANAGERS
from reps.tenancy.api import GymReadOnlyViewSet, TenantCrudViewSet

from .filters import NotificationFilter, NotificationTemplateFilter
from .models import DEFAULT_TEMPLATES, EXAMPLE_CONTEXT, Notification, NotificationTemplate
from .serializers import DefaultTemplatesSerializer, NotificationSerializer, NotificationTemplateSerializer


@extend_schema(tags=["notifications"])
class NotificationViewSet(GymReadOnlyViewSet):
    """What was sent to leads about their appointments, what waits to go, and what was skipped and why."""

    model = Notification
    serializer_class = NotificationSerializer
    filterset_class = NotificationFilter
    ordering_fields = ["send_at", "sent_at", "created_at"]
    ordering = ["-send_at"]


@extend_schema(tags=["notifications"])
class NotificationTemplateViewSet(TenantCrudViewSet):
    """The gym's own wording of its messages (owners and managers write); a kind and channel without one of the
    gym's templates uses the default."""

    model = NotificationTemplate
    serializer_class = NotificationTemplateSerializer
    filterset_class = NotificationTemplateFilter
    ordering_fields = ["kind", "channel", "created_at"]
    ordering = ["kind", "channel"]
    write_roles = MANAGERS

    @extend_schema(responses=DefaultTemplatesSerializer)
    @action(detail=False, pagination_class=None, filter_backends=[])
    def defaults(self, request: Request) -> Response:
        """The default templates, and an example of every value a template can name (`example_context`)."""
        return Response({
            "templates": [{"kind": kind, "channel": channel, "subject": subject, "body": body}
                          for (kind, channel), (subject, body) in DEFAULT_TEMPLATES.items()],
            "example_context": EXAMPLE_CONTEXT,
        })
