"""Authentication under row-level security, and API tokens that expire.

A user's row is visible to the application only inside their gym
(reps/core/migrations/0002_row_level_security.py). So each way in first asks
the database which gym the credential belongs to (a SECURITY DEFINER
function that answers with a gym id only), sets the open transaction to that
gym, and only then reads the user, with their gym and role in the same query
(the API base activates the gym's time zone; permissions read the role).
Outside a transaction nobody is found.
"""

import contextlib
import datetime
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from reps.tenancy.database import gym_of, gym_scope, set_transaction_gym_of

from .models import User
from .querysets import canonical_email


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`; a token older than API_TOKEN_TTL_HOURS no longer authenticates.

    An expired token stays refused until the next sign-in replaces it.
    """

    def authenticate_credentials(self, key: str) -> tuple[User, Token]:
        set_transaction_gym_of("token", key)
        token = Token.objects.select_related("user__gym", "user__role").filter(key=key).first()
        if token is None:
            raise AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        if token.created < timezone.now() - datetime.timedelta(hours=settings.API_TOKEN_TTL_HOURS):
            raise AuthenticationFailed("The token has expired; sign in again.")
        return token.user, token


class GymUserBackend(ModelBackend):
    """Django's email and password sign-in and session users, each read inside their gym.

    The caller sets the gym for what it does next (the API's views do). A
    user of no gym (platform staff) is looked up as the transaction stands:
    found by the platform admin's login, invisible to the application's.
    """

    def authenticate(self, request: Any, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> Any:
        with in_gym_of("login", str(username or "")):
            return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id: Any) -> User | None:
        try:
            user_id = uuid.UUID(str(user_id))
        except ValueError:
            return None
        with in_gym_of("user", user_id):
            user = User.objects.select_related("gym", "role").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None


def sign_in_name(request: Any, credentials: dict[str, Any] | None = None) -> str:
    """Which account a sign-in attempt is for, as django-axes counts them: the email as logins compare it."""
    given = (credentials or {}).get("username")
    if given is None:
        given = getattr(request, "POST", {}).get("username")
    return canonical_email(str(given or ""))


def in_gym_of(question: str, value: Any) -> Any:
    gym_id = gym_of(question, value)
    return gym_scope(gym_id) if gym_id is not None else contextlib.nullcontext()
