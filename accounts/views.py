import contextlib
import uuid
from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.views import LoginView
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed, NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from reps.core.permissions import MANAGERS
from reps.core.serializers import NoBodySerializer
from reps.tenancy.api import GymAPIView, GymModelViewSet
from reps.tenancy.database import gym_scope

from .filters import UserFilter
from .models import ApiToken, User
from .serializers import (
    ApiTokenSerializer,
    LoginSerializer,
    PasswordChangeSerializer,
    TokenSerializer,
    UserSerializer,
)
from .services import (
    change_own_password,
    create_staff_user,
    deactivate_staff_user,
    issue_token,
    revoke_token,
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
        device = login.validated_data.get("name", "")
        name = device or request.headers.get("User-Agent", "")
        return Response(token_answer(*issue_token(gym=user.gym_id, user=user, name=name,
                                                  replaces_its_name=bool(device.strip()))))


def token_answer(api_token: ApiToken, key: str) -> dict[str, Any]:
    return {"token": key, "id": str(api_token.public_id), "name": api_token.name,
            "expiry": api_token.expiry.isoformat() if api_token.expiry else None}


@extend_schema(tags=["auth"], request=None, responses={200: TokenSerializer})
class RotateTokenView(GymAPIView):
    """Swap the token this request was made with for a fresh one; the old one stops working at once."""

    def post(self, request: Request) -> Response:
        NoBodySerializer(data=request.data).is_valid(raise_exception=True)
        if not isinstance(request.auth, ApiToken):
            raise ValidationError("Sign in with an API token to rotate it.")
        return Response(token_answer(*rotate_token(gym=self.gym_id, user=self.member, api_token=request.auth)))


@extend_schema(tags=["auth"], request=PasswordChangeSerializer,
               responses={204: None, 429: OpenApiResponse(description="Too many wrong current passwords.")})
class PasswordView(GymAPIView):
    """Change your own password (any role): send the current one. Every device is signed out, this one too."""

    def post(self, request: Request) -> Response:
        change = PasswordChangeSerializer(data=request.data, context={"request": request})
        change.is_valid(raise_exception=True)
        change_own_password(gym=self.gym_id, user=self.member, **change.validated_data)
        if hasattr(request, "session"):
            request.session.flush()
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["auth"], request=None, responses={204: None})
class LogoutView(GymAPIView):
    """Revoke the token this request was made with (and end the session, if any)."""

    def post(self, request: Request) -> Response:
        NoBodySerializer(data=request.data).is_valid(raise_exception=True)
        if isinstance(request.auth, ApiToken):
            revoke_token(gym=self.gym_id, user=self.member, token_id=request.auth.public_id)
        if hasattr(request, "session"):
            request.session.flush()
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["auth"], responses={200: ApiTokenSerializer(many=True)})
class TokenListView(GymAPIView):
    """Your API tokens, one per device: their names, when they were made, last used, and expire."""

    def get(self, request: Request) -> Response:
        tokens = ApiToken.objects.filter(user=self.member)
        return Response(ApiTokenSerializer(tokens, many=True, context=self.get_serializer_context()).data)


@extend_schema(tags=["auth"], request=None, responses={204: None})
class TokenDetailView(GymAPIView):
    """Revoke one of your API tokens (a lost phone, a retired script)."""

    def delete(self, request: Request, token_id: uuid.UUID) -> Response:
        if not revoke_token(gym=self.gym_id, user=self.member, token_id=token_id):
            raise NotFound()
        return Response(status=status.HTTP_204_NO_CONTENT)


class BrowsableApiLoginView(LoginView):
    """The browsable API's session sign-in; Django's, with the user's gym set before the session is written."""

    template_name = "rest_framework/login.html"

    def form_valid(self, form: Any) -> Any:
        gym_id = form.get_user().gym_id  # the sign-in writes the user's last_login, in their gym
        with gym_scope(gym_id) if gym_id else contextlib.nullcontext():
            return super().form_valid(form)
