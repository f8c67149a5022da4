from typing import Any

from django.contrib import admin, messages

from reps.tenancy.admin import TenantAdmin

from . import outbox
from .models import OutboxMessage


class DeliveryState(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [("pending", "Pending"), ("sent", "Sent"), ("failed", "Failed")]

    def queryset(self, request: Any, queryset: Any) -> Any:
        return {
            "pending": queryset.filter(sent_at__isnull=True, failed_at__isnull=True),
            "sent": queryset.filter(sent_at__isnull=False),
            "failed": queryset.filter(failed_at__isnull=False),
        }.get(self.value() or "", queryset)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(TenantAdmin):
    list_display = ("topic", "gym", "created_at", "state", "attempts", "next_attempt_at", "sent_at", "failed_at")
    list_filter = (DeliveryState, "topic", "gym")
    readonly_fields = ("created_at",)
    actions = ["retry_delivery"]

    @admin.action(description="Retry delivering the selected failed messages")
    def retry_delivery(self, request: Any, queryset: Any) -> None:
        retried = outbox.retry(queryset)
        self.message_user(request, f"{retried} failed message(s) will be delivered again.", messages.SUCCESS)
