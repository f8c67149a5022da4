"""API tokens that expire: a token older than API_TOKEN_TTL_HOURS no longer authenticates."""

import datetime

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token.created < timezone.now() - datetime.timedelta(hours=settings.API_TOKEN_TTL_HOURS):
            token.delete()
            raise AuthenticationFailed("The token has expired; sign in again.")
        return user, token
