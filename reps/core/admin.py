from django.contrib import admin

from reps.tenancy.admin import TenantAdmin

from .models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(TenantAdmin):
    list_display = ("topic", "gym", "created_at", "sent_at", "attempts")
    list_filter = ("topic", "gym")
    readonly_fields = ("created_at",)
