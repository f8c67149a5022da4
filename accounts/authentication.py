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

from django.contrib.auth.backends import ModelBackend
from django.db import connection
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox import auth as knox_auth
from knox.crypto import hash_token
from knox.settings import CONSTANTS, knox_settings
from rest_framework.exceptions import AuthenticationFailed

from reps.core.cache import row_from
from reps.tenancy.database import gym_of, gym_scope, gym_setting, write_before_commit

from .models import ApiToken, Role, User
from .querysets import canonical_email

LAST_USE_PRECISION = datetime.timedelta(minutes=1)


class ApiTokenAuthentication(knox_auth.TokenAuthentication):
    """`Authorization: Token <token>`: an accounts.ApiToken, found by its key and its hash, not expired.

    With API_TOKEN_REFRESH each use pushes its expiry on (as knox's refresh: not past
    API_TOKEN_MAX_DAYS, at most once a minute); its last use is noted once a minute at most. Both are
    written just before the request's transaction commits (write_before_commit), so that the request reads
    as one that has written nothing (on the read replica, when there is one).
    """

    def authenticate_credentials(self, token: bytes) -> tuple[User, ApiToken]:
        raw = token.decode("utf-8", "replace")
        gym_id = gym_of("token", raw[:CONSTANTS.TOKEN_KEY_LENGTH])
        api_token = token_of(raw[:CONSTANTS.TOKEN_KEY_LENGTH], hash_token(raw), gym_id) if gym_id else None
        if api_token is None:
            raise AuthenticationFailed("Invalid token.")
        now = timezone.now()
        if api_token.expiry is not None and api_token.expiry < now:
            raise AuthenticationFailed("The token has expired; sign in again.")
        if not api_token.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        changes: dict[str, Any] = {}
        if knox_settings.AUTO_REFRESH and api_token.expiry is not None:
            expiry = now + knox_settings.TOKEN_TTL
            if knox_settings.AUTO_REFRESH_MAX_TTL is not None:
                expiry = min(expiry, api_token.created + knox_settings.AUTO_REFRESH_MAX_TTL)
            if (expiry - api_token.expiry).total_seconds() > knox_settings.MIN_REFRESH_INTERVAL:
                changes["expiry"] = api_token.expiry = expiry
        if api_token.last_used_at is None or now - api_token.last_used_at > LAST_USE_PRECISION:
            changes["last_used_at"] = api_token.last_used_at = now
        if changes:
            # An update, not a save(): a request that signs the token out deletes its row first.
            write_before_commit(lambda: ApiToken.objects.filter(pk=api_token.pk).update(**changes))
        return api_token.user, api_token


def token_of(key: str, digest: str, gym_id: uuid.UUID) -> ApiToken | None:
    """The token with this key and digest, with its user, gym and role, if its user is of this gym, which the
    transaction acts for from then on.

    What `ApiToken.objects.select_related("user__gym", "user__role").filter(...)` reads under row-level
    security once the gym is set, in one statement that sets the gym too and plans no policy (accounts
    migrations 0005 and 0006): 1.5 ms less per request.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT reps_token_row(%s, %s, %s, %s)", [key, digest, *gym_setting(gym_id)])
        found = cursor.fetchone()[0]
    if found is None:
        return None
    user = row_from(User, found["user"])
    user_field, role_field, gym_field = (ApiToken._meta.get_field("user"), User._meta.get_field("role"),
                                         User._meta.get_field("gym"))
    gym_model: Any = gym_field.related_model
    gym_field.set_cached_value(user, row_from(gym_model, found["gym"]))
    role_field.set_cached_value(user, row_from(Role, found["role"]) if found["role"] else None)
    api_token = row_from(ApiToken, found["token"])
    user_field.set_cached_value(api_token, user)
    return api_token  # type: ignore[return-value]


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


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """The schema's name for the API token: `Authorization: Token <token>`."""

    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> Any:
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")
