from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from reps.core.serializers import StrictModelSerializer, StrictSerializer

from .choices import RoleName
from .models import ApiToken, Role, User
from .querysets import canonical_email, validate_plain_email


class SignInEmailField(serializers.EmailField):
    """An email address as logins compare it (NFKC, lower case), and in plain ASCII."""

    def to_internal_value(self, data: Any) -> str:
        email = canonical_email(data) if isinstance(data, str) else data
        value: str = super().to_internal_value(email)
        validate_plain_email(value)
        return value


class UserSerializer(StrictModelSerializer):
    email = SignInEmailField(max_length=255)
    role = serializers.SlugRelatedField(slug_field="name", queryset=Role.objects.all(),
                                        help_text=f"One of: {', '.join(RoleName.values)}.")
    password = serializers.CharField(write_only=True, required=False, style={"input_type": "password"},
                                     help_text="Required when creating a user. Only an owner sets another person's"
                                               " password; to change your own, also send current_password.")
    current_password = serializers.CharField(write_only=True, required=False, style={"input_type": "password"},
                                             trim_whitespace=False,
                                             help_text="Your current password, when you change your own.")

    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "role", "is_active", "password", "current_password",
                  "last_login", "created_at"]
        read_only_fields = ["id", "last_login", "created_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None and "current_password" in attrs:
            raise serializers.ValidationError({"current_password": ["Only for changing your own password."]})
        if self.instance is None and not attrs.get("password"):
            raise serializers.ValidationError({"password": ["Set a password for the new user."]})
        if attrs.get("password"):
            candidate = User(email=attrs.get("email", getattr(self.instance, "email", "")),
                             first_name=attrs.get("first_name", ""), last_name=attrs.get("last_name", ""))
            try:
                password_validation.validate_password(attrs["password"], candidate)
            except DjangoValidationError as error:
                raise serializers.ValidationError({"password": list(error.messages)}) from None
        return attrs


class PasswordChangeSerializer(StrictSerializer):
    current_password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False,
                                     help_text="The new password.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            password_validation.validate_password(attrs["password"], self.context["request"].user)
        except DjangoValidationError as error:
            raise serializers.ValidationError({"password": list(error.messages)}) from None
        return attrs


class LoginSerializer(StrictSerializer):
    email = SignInEmailField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    name = serializers.CharField(required=False, allow_blank=True, max_length=100,
                                 help_text="Which device or program the token is for (default: its User-Agent)."
                                 " Signing in again under the same name replaces that device's token.")


class ApiTokenSerializer(StrictModelSerializer):
    """One of your API tokens, without its key (only its hash is kept)."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    current = serializers.SerializerMethodField(help_text="Whether this request was made with it.")

    class Meta:
        model = ApiToken
        fields = ["id", "name", "created", "expiry", "last_used_at", "current"]
        read_only_fields = fields

    def get_current(self, api_token: ApiToken) -> bool:
        request = self.context.get("request")
        return bool(request is not None and getattr(request.auth, "pk", None) == api_token.pk)


class TokenSerializer(StrictSerializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`; it is shown only now.")
    id = serializers.UUIDField(help_text="The token's id in auth/tokens/.")
    name = serializers.CharField()
    expiry = serializers.DateTimeField(allow_null=True)
