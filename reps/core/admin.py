"""Admin base classes: platform staff see every gym, so querysets are unscoped."""

from django.contrib import admin
from django.forms.models import BaseInlineFormSet

from .models import OutboxMessage
from .repositories import EVERYTHING, invalidate_after


class TenantAdmin(admin.ModelAdmin):
    list_select_related = ("gym",)
    autocomplete_fields = ("gym",)
    list_filter = ("gym",)

    def get_queryset(self, request):
        queryset = self.model._default_manager.unscoped()
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    # Admin edits bypass the services: drop the gym's cached figures after each.
    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        invalidate_after(form.instance.gym_id, EVERYTHING)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        invalidate_after(obj.gym_id, EVERYTHING)

    def delete_queryset(self, request, queryset):
        gym_ids = set(queryset.values_list("gym_id", flat=True))
        super().delete_queryset(request, queryset)
        for gym_id in gym_ids:
            invalidate_after(gym_id, EVERYTHING)


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
