from typing import Any

from django.contrib import admin, messages
from django.utils import timezone

from leads.admin import LeadSearchMixin
from reps.core.admin import SendWhen, local_time_column
from reps.tenancy.admin import TenantAdmin

from .choices import NotificationStatus
from .models import Notification, NotificationTemplate


@admin.register(Notification)
class NotificationAdmin(LeadSearchMixin, TenantAdmin):
    list_display = (local_time_column("send_at", "send at"), "kind", "channel", "status", "to", "lead", "attempts",
                    local_time_column("sent_at", "sent at"), "gym")
    # When: a range of send_at (no date hierarchy: its years and months were a pass over the table).
    list_filter = (SendWhen, "status", "channel", "kind", "gym")
    list_select_related = ("gym", "lead")
    search_fields = ("to", "lead__first_name", "lead__last_name", "lead__phone", "lead__email")
    autocomplete_fields = ("gym", "lead", "appointment")
    readonly_fields = ("key", "to", "subject", "body", "attempts", "claimed_until", "sent_at", "provider_id",
                       "reason")
    actions = ["send_again"]

    @admin.action(description="Try sending again (failed ones only)")
    def send_again(self, request: Any, queryset: Any) -> None:
        retried = queryset.filter(status=NotificationStatus.FAILED).update(
            status=NotificationStatus.PENDING, attempts=0, send_at=timezone.now(), reason="", updated_at=timezone.now())
        self.message_user(request, f"{retried} notification(s) will be sent again.", messages.SUCCESS)


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(TenantAdmin):
    list_display = ("kind", "channel", "subject", "gym")
    ordering = ("gym__name", "kind", "channel")
    list_filter = ("kind", "channel", "gym")
    search_fields = ("subject", "body")
