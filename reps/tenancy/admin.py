"""The platform admin's bases: every gym, through the platform login.

- `PlatformAdminSite`: each admin view runs in the all-gyms scope, so that
  Django's own forms and checks (which query tenant models through their
  default managers) work across gyms; everywhere else a query needs a gym.
- `PlatformAdminMiddleware`: /admin/ requests read and write through the
  platform database login (DATABASE_PLATFORM_URL), which may bypass
  row-level security, from the session lookup on.
- `TenantAdmin` and the inlines: a tenant model's admin, unscoped, that drops
  the gym's cached figures after each edit (admin edits bypass the services).
"""

import functools
from collections.abc import Callable
from typing import Any, ClassVar

from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from reps.core.cache import everything, invalidate_after

from .state import all_gyms, platform_database


class PlatformAdminSite(admin.AdminSite):
    site_header = "Reps platform admin"
    site_title = "Reps admin"

    def admin_view(self, view: Any, cacheable: bool = False) -> Any:
        wrapped = super().admin_view(view, cacheable)

        @functools.wraps(wrapped)
        def in_all_gyms(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            with all_gyms():
                response = wrapped(request, *args, **kwargs)
                # Admin pages are TemplateResponses, rendered after the view
                # returns: render inside the scope, where the forms' queries run.
                if hasattr(response, "render") and not response.is_rendered:
                    response.render()
                return response

        return in_all_gyms


class PlatformAdminMiddleware:
    """Requests to the platform admin (/admin/) work through the platform database login."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.prefix: str | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.prefix is None:
            self.prefix = reverse("admin:index")
        if not request.path.startswith(self.prefix):
            return self.get_response(request)
        with platform_database():
            return self.get_response(request)


class TenantAdmin(admin.ModelAdmin):
    list_select_related: ClassVar[bool | list[str] | tuple[str, ...]] = ("gym",)
    autocomplete_fields: ClassVar[list[str] | tuple[str, ...]] = ("gym",)
    list_filter: ClassVar[Any] = ("gym",)

    def get_queryset(self, request: HttpRequest) -> Any:
        queryset = self.model._default_manager.unscoped()
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        invalidate_after(form.instance.gym_id, everything())

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        super().delete_model(request, obj)
        invalidate_after(obj.gym_id, everything())

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        gym_ids = set(queryset.values_list("gym_id", flat=True))
        super().delete_queryset(request, queryset)
        for gym_id in gym_ids:
            invalidate_after(gym_id, everything())


class SameGymFormSet(BaseInlineFormSet):
    """Inline rows take the gym of the row they belong to."""

    def _construct_form(self, i: int, **kwargs: Any) -> Any:
        form = super()._construct_form(i, **kwargs)  # type: ignore[misc]
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

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields
