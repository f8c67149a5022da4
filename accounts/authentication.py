"""Authentication under row-level security, and API tokens that expire.

A user's row is visible to the application only inside their gym
(reps/core/migrations/0002_row_level_security.py). So each way in first asks
the database which gym the credential belongs to (a SECURITY DEFINER
function that answers with a gym id only), sets the open transaction to that
gym, and only then reads the user. Outside a transaction nobody is found.
"""

import contextlib
import datetime
import uuid

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from reps.core.scoping import gym_of, gym_scope, set_transaction_gym_of


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`; a token older than API_TOKEN_TTL_HOURS no longer authenticates.

    An expired token stays refused until the next sign-in replaces it.
    """

    def authenticate_credentials(self, key):
        set_transaction_gym_of("token", key)
        user, token = super().authenticate_credentials(key)
        if token.created < timezone.now() - datetime.timedelta(hours=settings.API_TOKEN_TTL_HOURS):
            raise AuthenticationFailed("The token has expired; sign in again.")
        return user, token


class GymUserBackend(ModelBackend):
    """Django's email and password sign-in and session users, each read inside their gym.

    The caller sets the gym for what it does next (the API's views do). A
    user of no gym (platform staff) is looked up as the transaction stands:
    found by the platform admin's login, invisible to the application's.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        with in_gym_of("login", str(username or "")):
            return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id):
        try:
            user_id = uuid.UUID(str(user_id))
        except ValueError:
            return None
        with in_gym_of("user", user_id):
            return super().get_user(user_id)


def in_gym_of(question, value):
    gym_id = gym_of(question, value)
    return gym_scope(gym_id) if gym_id is not None else contextlib.nullcontext()
