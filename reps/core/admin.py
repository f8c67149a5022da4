"""Admin base classes: platform staff see every gym, so querysets are unscoped."""

from django.contrib import admin
from django.forms.models import BaseInlineFormSet

from .models import OutboxMessage


class TenantAdmin(admin.ModelAdmin):
    list_select_related = ("gym",)
    autocomplete_fields = ("gym",)
    list_filter = ("gym",)

    def get_queryset(self, request):
        queryset = self.model._default_manager.unscoped()
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset


class SameGymFormSet(BaseInlineFormSet):
    """Inline rows take the gym of the row they belong to."""

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        if getattr(self.instance, "gym_id", None):
            form.instance.gym_id = self.instance.gym_id
        return form


class TenantInline(admin.TabularInline):
    formset = SameGymFormSet
    exclude = ("gym",)
    extra = 0


class ReadOnlyTenantInline(TenantInline):
    """A summary of related rows, each linking to its own page."""

    show_change_link = True
    can_delete = False
    max_num = 0

    def get_readonly_fields(self, request, obj=None):
        return self.fields


@admin.register(OutboxMessage)
class OutboxMessageAdmin(TenantAdmin):
    list_display = ("topic", "gym", "created_at", "sent_at", "attempts")
    list_filter = ("topic", "gym")
    readonly_fields = ("created_at",)
