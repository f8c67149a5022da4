from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.views import LoginView
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from reps.core.permissions import MANAGERS
from reps.core.serializers import NoBodySerializer
from reps.tenancy.api import GymAPIView, GymModelViewSet
from reps.tenancy.database import set_transaction_gym

from .filters import UserFilter
from .models import User
from .serializers import LoginSerializer, TokenSerializer, UserSerializer
from .services import (
    create_staff_user,
    deactivate_staff_user,
    issue_token,
    revoke_tokens,
    rotate_token,
    update_staff_user,
)


@extend_schema(tags=["users"])
class UserViewSet(GymModelViewSet):
    """The gym's staff. Owners and managers manage them; deleting deactivates."""

    model = User
    serializer_class = UserSerializer
    filterset_class = UserFilter
    ordering_fields = ["email", "first_name", "last_name", "created_at"]
    ordering = ["email"]
    write_roles = MANAGERS

    def shape_queryset(self, users: Any) -> Any:
        return users.select_related("role")

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = create_staff_user(gym=self.gym_id, actor=self.member, data=serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = update_staff_user(
            gym=self.gym_id, actor=self.member, user_id=serializer.instance.pk, data=serializer.validated_data
        )

    def perform_destroy(self, instance: User) -> None:
        deactivate_staff_user(gym=self.gym_id, actor=self.member, user_id=instance.pk)


@extend_schema(tags=["auth"], request=LoginSerializer,
               responses={200: TokenSerializer, 401: OpenApiResponse(description="Wrong email or password."),
                          429: OpenApiResponse(description="Too many sign-in attempts from this address.")})
class TokenView(GymAPIView):
    """Exchange a staff member's email and password for an API token (`Authorization: Token <token>`)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        return "Token"  # so that a failed login is a 401, not a 403

    def post(self, request: Request) -> Response:
        login = LoginSerializer(data=request.data)
        login.is_valid(raise_exception=True)
        # Django's request, where django-axes notes a lockout for its middleware to answer (a 429).
        user = authenticate(request._request, username=login.validated_data["email"],
                            password=login.validated_data["password"])
        if user is None or user.gym_id is None:
            raise AuthenticationFailed("Wrong email or password.")
        return Response({"token": issue_token(gym=user.gym_id, user=user).key})


@extend_schema(tags=["auth"], request=None, responses={200: TokenSerializer})
class RotateTokenView(GymAPIView):
    """Swap the token this request was made with for a fresh one; the old one stops working at once."""

    def post(self, request: Request) -> Response:
        NoBodySerializer(data=request.data).is_valid(raise_exception=True)
        return Response({"token": rotate_token(gym=self.gym_id, user=self.member).key})


@extend_schema(tags=["auth"], request=None, responses={204: None})
class LogoutView(GymAPIView):
    """Revoke the token this request was made with (and end the session, if any)."""

    def post(self, request: Request) -> Response:
        NoBodySerializer(data=request.data).is_valid(raise_exception=True)
        revoke_tokens(gym=self.gym_id, user=self.member)
        if hasattr(request, "session"):
            request.session.flush()
        return Response(status=status.HTTP_204_NO_CONTENT)


class BrowsableApiLoginView(LoginView):
    """The browsable API's session sign-in; Django's, with the user's gym set before the session is written."""

    template_name = "rest_framework/login.html"

    def form_valid(self, form: Any) -> Any:
        set_transaction_gym(form.get_user().gym_id)
        return super().form_valid(form)
