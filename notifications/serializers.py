from typing import Any

from rest_framework import serializers

from reps.core.serializers import StrictModelSerializer

from .models import Notification, NotificationTemplate


class NotificationSerializer(StrictModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "appointment", "lead", "kind", "channel", "status", "scheduled_time", "send_at", "to",
                  "subject", "body", "attempts", "sent_at", "provider_id", "reason", "created_at", "updated_at"]
        read_only_fields = fields


class NotificationTemplateSerializer(StrictModelSerializer):
    """A gym's wording of one kind of message on one channel. Subject and body are templates in Django's
    template language naming gym, lead, appointment (title, when, date, time), branch and staff; see the
    defaults at GET /api/v1/notification-templates/defaults/."""

    class Meta:
        model = NotificationTemplate
        fields = ["id", "kind", "channel", "subject", "body", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if self.instance is not None and {"kind", "channel"} & set(attrs) and any(
                attrs.get(name, getattr(self.instance, name)) != getattr(self.instance, name)
                for name in ("kind", "channel")):
            raise serializers.ValidationError({"kind": "A template's kind and channel stay as they are: create"
                                                       " another template instead."})
        return attrs


class DefaultTemplateSerializer(serializers.Serializer):
    kind = serializers.CharField()
    channel = serializers.CharField()
    subject = serializers.CharField()
    body = serializers.CharField()


class DefaultTemplatesSerializer(serializers.Serializer):
    templates = DefaultTemplateSerializer(many=True)
    example_context = serializers.DictField(help_text="An example of every value a template can name.")
