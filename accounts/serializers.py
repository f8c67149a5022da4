from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from reps.core.serializers import StrictModelSerializer, StrictSerializer

from .choices import RoleName
from .models import Role, User


class UserSerializer(StrictModelSerializer):
    role = serializers.SlugRelatedField(slug_field="name", queryset=Role.objects.all(),
                                        help_text=f"One of: {', '.join(RoleName.values)}.")
    password = serializers.CharField(write_only=True, required=False, style={"input_type": "password"},
                                     help_text="Required when creating a user.")

    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "role", "is_active", "password", "last_login",
                  "created_at"]
        read_only_fields = ["id", "last_login", "created_at"]

    def validate_email(self, value: str) -> str:
        return value.strip().lower()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
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


class LoginSerializer(StrictSerializer):
    email = serializers.EmailField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class TokenSerializer(StrictSerializer):
    token = serializers.CharField()
