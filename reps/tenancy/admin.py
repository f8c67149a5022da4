"""The bases of the two admin sites: the platform's (every gym, through the platform login) and the gym
workspace (one gym, as the application role).

- `PlatformAdminSite`: each admin view runs in the all-gyms scope, so that
  Django's own forms and checks (which query tenant models through their
  default managers) work across gyms; everywhere else a query needs a gym.
- `PlatformAdminMiddleware`: /admin/ requests read and write through the
  platform database login (DATABASE_PLATFORM_URL), which may bypass
  row-level security, from the session lookup on.
- `TenantAdmin` and the inlines: a tenant model's admin, unscoped, that drops
  the gym's cached figures after each edit (admin edits bypass the services).
- `WorkspaceSite`: the gym workspace (/workspace/), for gym staff. Each page, its sign-in and sign-out
  run in one transaction acting for the signed-in user's gym as the application role, so row-level
  security hides every other gym's rows; the page runs in the gym's scope and time zone.
- `WorkspaceAdmin`: a tenant model's page in the workspace: its rows from `for_gym(user's gym)`, its
  permissions from the user's role, its writes through services, another gym's object a 404.
"""

import contextlib
import functools
import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ORDER_VAR, PAGE_VAR, SEARCH_VAR, ChangeList
from django.contrib.admin.widgets import AutocompleteSelect
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page
from django.db import IntegrityError, models, transaction
from django.db.models.constants import LOOKUP_SEP
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils import timezone

from reps.core.cache import everything, invalidate_after
from reps.core.constraints import validation_error_of
from reps.core.exceptions import DomainError
from reps.core.pagination import CountThatStops, rows_at
from reps.core.permissions import EVERYONE, MANAGERS, role_of
from reps.core.serializers import FIRST_MOMENT, LAST_MOMENT

from . import database, services, state
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


class RowsByIdPages(CountThatStops):
    """A page's rows read by their ids, found first (rows_at): a deep page skips ids in an index, not rows
    (page 200 of a gym's 100,000 leads: 155 ms by OFFSET over the rows)."""

    def page(self, number: Any) -> Page:
        number = self.validate_number(number)
        return Page(rows_at(self.rows, (number - 1) * self.per_page, self.per_page), number, self)


class AtLeast(int):
    """A count that stopped: a number to compare and pluralise with, shown as "1,000+"."""

    def __str__(self) -> str:
        return f"{int(self):,}+"


class CountedChangeList(ChangeList):
    """A list whose count may have stopped (BoundedListAdmin.get_paginator): then it says "1,000+ leads" and
    "Select all 1,000+ leads", not the count where it stopped."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        if not getattr(self.paginator, "exact", True):
            self.result_count = AtLeast(self.paginator.stop_after)
        if not self.query and not self.has_active_filters:
            # Nothing filtered: its count is the whole list's (the search box said "1,000+ results (Show
            # all)", a link to the same page, having counted no whole table).
            self.full_result_count = self.result_count


class BoundedListAdmin(admin.ModelAdmin):
    """A list that costs the same on a table of millions as on a small one: its count stops after
    `count_limit` rows ("1,000+"), or past the page asked for and the next, so every page up to there
    exists and the next one is linked; no second count of the whole table (show_full_result_count); no
    count per filter choice (facets); a page's rows read by their ids (RowsByIdPages).

    Measured on generate_data's default platform (1,000,000 leads, 5,000,000 calls): the platform admin's
    call list counted 5,000,000 rows on every page before this.
    """

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice: a pass over the table each
    # A search of a big gym's calls took 1.2 s to count 10,000 rows.
    count_limit = 1_000
    # The count of a search's results (None: count_limit): a search tests each row it walks, so its count
    # costs as many rows again as there are results to count.
    search_count_limit: int | None = None

    def get_paginator(self, request: HttpRequest, queryset: Any, per_page: int, orphans: int = 0,
                      allow_empty_first_page: bool = True) -> CountThatStops:
        # A list's page and search (?p=, ?q=), or an autocomplete's (?page=, ?term=: another row's form
        # asking for this model's rows, 20 at a time).
        try:
            number = max(int(request.GET.get(PAGE_VAR) or request.GET.get("page") or 1), 1)
        except ValueError:
            number = 1
        limit = self.count_limit
        if "term" in request.GET:  # an autocomplete only asks whether more follow (a call's: 2 s to 1,000)
            limit = 0
        elif request.GET.get(SEARCH_VAR, "").strip() and self.search_count_limit is not None:
            limit = self.search_count_limit
        return RowsByIdPages(queryset, per_page, max(limit, (number + 1) * per_page))

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return CountedChangeList

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        """The list, once its query string is one it understands: each parameter once, a page that is a
        number, an order of its own sortable columns (the admin would take the last of two, ignore the rest,
        and sort by any column: a sort of 5,000,000 calls by their start took 9 s)."""
        repeated = [name for name in request.GET if len(request.GET.getlist(name)) > 1]
        page, order = request.GET.get(PAGE_VAR, "1"), request.GET.get(ORDER_VAR, "")
        # The columns as the list numbers them: the selection box first, where there are actions.
        columns = [*(["action_checkbox"] if self.get_actions(request) else []), *self.get_list_display(request)]
        sortable = self.get_sortable_by(request)
        allowed = {str(number) for number, column in enumerate(columns) if column in sortable}
        if repeated or not page.isdigit() or (order and not all(
                part.removeprefix("-") in allowed for part in order.split("."))):
            raise IncorrectLookupParameters("A parameter given twice, or a page or order this list has not.")
        return super().get_changelist_instance(request)


GYM_FILTER_PARAMETER = "gym__id__exact"


def filtered_gym_id(request: HttpRequest) -> uuid.UUID | None:
    """The gym a platform admin list is filtered to (GymFilter), if one: a search then reads that gym's
    index entries only. A malformed one is None here; the filter itself answers it with the list's 400."""
    try:
        return uuid.UUID(request.GET.get(GYM_FILTER_PARAMETER, ""))
    except ValueError:
        return None


class GymFilter(admin.FieldListFilter):
    """The platform admin's gym filter: a box that finds the gym as one types (the admin's autocomplete of
    gyms), not a link per gym (200 of them at generate_data's size, every gym of the platform in time)."""

    template = "admin/reps/gym_filter.html"

    def __init__(self, field: Any, request: HttpRequest, params: Any, model: Any, model_admin: Any,
                 field_path: str) -> None:
        self.lookup_kwarg = f"{field_path}__id__exact"  # GYM_FILTER_PARAMETER
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = "gym"
        values: list[Any] = list(self.used_parameters.get(self.lookup_kwarg) or [])  # type: ignore[arg-type]
        self.gym_id: uuid.UUID | None = None
        if values:
            try:
                (value,) = values
                self.gym_id = uuid.UUID(str(value))
            except ValueError:
                raise IncorrectLookupParameters(f"{values!r} is not one gym's id.") from None
        self.gym = field.related_model._default_manager.filter(pk=self.gym_id).first() \
            if self.gym_id else None
        self.model_name = (model._meta.app_label, model._meta.model_name, field.name)

    def expected_parameters(self) -> list[str | None]:
        return [self.lookup_kwarg]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset.filter(**{f"{self.field_path}_id": self.gym_id}) if self.gym_id else queryset

    def choices(self, changelist: Any) -> Any:
        # The template's box; this is its "All gyms" link and the address a chosen gym goes to.
        yield {"selected": self.gym_id is None, "display": "All gyms",
               "query_string": changelist.get_query_string(remove=[self.lookup_kwarg]),
               "chosen_query_string": changelist.get_query_string({self.lookup_kwarg: "GYM_ID"}),
               "gym": self.gym, "source": self.model_name}


def gym_filter_media(model_admin: admin.ModelAdmin) -> forms.Media:
    """What the gym filter's box needs on a list's page: the admin's autocomplete (select2) and what opens
    the chosen gym's list."""
    autocomplete = AutocompleteSelect(model_admin.model._meta.get_field("gym"), model_admin.admin_site).media
    # After django.jQuery exists (jquery.init.js), which the media's merge would not otherwise know.
    jquery = f"admin/js/vendor/jquery/jquery{'' if settings.DEBUG else '.min'}.js"
    return autocomplete + forms.Media(js=[jquery, "admin/js/jquery.init.js", "reps/gym_filter.js"])


class TenantAdmin(BoundedListAdmin):
    list_select_related: ClassVar[bool | list[str] | tuple[str, ...]] = ("gym",)
    autocomplete_fields: ClassVar[list[str] | tuple[str, ...]] = ("gym",)
    list_filter: ClassVar[Any] = ("gym",)
    # Across every gym a broad search ("smith": 19,000 leads, 2% of the transcripts) is counted past the
    # next page only ("200+"): counting 1,000 transcripts of it took 0.8 s.
    search_count_limit = 0
    # A tenant list is in its order for the work (ordering), which an index gives: its columns do not sort
    # it otherwise (every gym's rows sorted for a page: 6 to 10 s at 5,000,000 calls).
    sortable_by: ClassVar[Any] = ()

    def get_queryset(self, request: HttpRequest) -> Any:
        queryset = self.model._default_manager.unscoped()
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def get_list_filter(self, request: HttpRequest) -> Any:
        return [("gym", GymFilter) if item == "gym" else item for item in super().get_list_filter(request)]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # The gym as the gym filter writes it, no other way (?gym=, ?gym__name__startswith=...): those
        # filtered the list while its filter said "All gyms", and searched every gym's index entries.
        if lookup.split(LOOKUP_SEP)[0] in ("gym", "gym_id"):
            return lookup == GYM_FILTER_PARAMETER
        return super().lookup_allowed(lookup, value, request)

    @property
    def media(self) -> forms.Media:
        return super().media + gym_filter_media(self)

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


@contextlib.contextmanager
def acting_for_user(request: HttpRequest) -> Iterator[None]:
    """One transaction for a workspace request, acting for the signed-in user's gym (or, until and unless
    one is signed in, for no gym: it sees nothing), in the gym's scope and time zone."""
    nested = transaction.get_connection().in_atomic_block
    with transaction.atomic():
        replaced = database.set_transaction_gym(None)
        gym_id = getattr(request.user, "gym_id", None)  # the session's user, read inside their gym
        token = None
        if gym_id is not None:
            database.set_transaction_gym(gym_id)
            token = state.activate(gym_id)
            timezone.activate(request.user.gym.tzinfo)  # type: ignore[union-attr]
        try:
            yield
        finally:
            if token is not None:
                timezone.deactivate()
                state.deactivate(token)
        # Inside a caller's transaction (a test's), its settings come back; a failure rolled them back already.
        database.restore_transaction_gym(replaced if nested else None)


def rendered_inside(view: Callable[..., Any]) -> Callable[..., Any]:
    """The view in acting_for_user(), its template rendered there too (the forms query while rendering)."""

    @functools.wraps(view)
    def in_users_gym(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with acting_for_user(request):
            response = view(request, *args, **kwargs)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
            return response

    return in_users_gym


def sensible_moment(moment: Any) -> None:
    """The API's range of moments (reps.core.serializers.MomentField)."""
    if moment is not None and not FIRST_MOMENT <= moment < LAST_MOMENT:
        raise ValidationError(f"Use a moment from {FIRST_MOMENT:%Y} to {LAST_MOMENT.year - 1}.")


class GymChoiceFilter(admin.SimpleListFilter):
    """A list filter whose value must be one of its choices (the gym's tags, staff...): another gym's id or
    a malformed one is the admin's "bad filter" answer, not an empty list or a 500."""

    def value(self) -> Any:
        value = super().value()
        if value is not None and value not in {str(key) for key, _ in self.lookup_choices}:
            raise IncorrectLookupParameters(f"No such {self.title} in your gym.")
        return value


def gym_id_of_request(request: HttpRequest) -> uuid.UUID:
    """The signed-in member's gym: the workspace lets nobody else in (WorkspaceSite.has_permission)."""
    gym_id: uuid.UUID | None = getattr(request.user, "gym_id", None)
    if gym_id is None:
        raise PermissionDenied("Sign in as a member of a gym's staff.")
    return gym_id


def member_of(request: HttpRequest) -> Any:
    """The signed-in member of the gym's staff (an accounts.User)."""
    return request.user


def add_errors(form: Any, error: ValidationError) -> None:
    """A service's refusal on the form: on its fields where the form has them, above the form otherwise."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class WorkspaceSignInForm(AuthenticationForm):
    """The workspace's sign-in: gym staff only (platform staff sign in at /admin/)."""

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if user.gym_id is None or role_of(user) is None:
            raise ValidationError("This account is not on a gym's staff; platform staff sign in at /admin/.",
                                  code="not_gym_staff")
        # The sign-in goes on to write the user's last_login and the session: in their gym's transaction.
        database.set_transaction_gym(user.gym_id)


class WorkspaceSite(admin.AdminSite):
    """The gym workspace: a gym's own staff at work, inside their gym (see the module's docstring)."""

    login_form = WorkspaceSignInForm
    enable_nav_sidebar = False
    site_url = None  # no "view site": the workspace is the site

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and getattr(user, "gym_id", None) and role_of(user))

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        gym = getattr(request.user, "gym", None)
        if gym is not None:
            context["site_header"] = f"{gym.name} · Reps"
            context["gym"] = gym
        context["role"] = role_of(request.user) if request.user.is_authenticated else None
        return context

    def admin_view(self, view: Any, cacheable: bool = False) -> Any:
        return rendered_inside(super().admin_view(view, cacheable))

    def get_urls(self) -> list[Any]:
        # No "view on site" (/r/<content type>/<id>/): the rows have no pages outside the workspace, and its
        # lookup reads tables the application role may not (the admin log, the sessions).
        return [pattern for pattern in super().get_urls() if getattr(pattern, "name", None) != "view_on_site"]

    def autocomplete_view(self, request: HttpRequest) -> HttpResponse:
        try:
            return super().autocomplete_view(request)
        except (IncorrectLookupParameters, DomainError) as error:  # a search it cannot run: an empty answer
            return JsonResponse({"results": [], "pagination": {"more": False}, "error": str(error)}, status=400)

    def login(self, request: HttpRequest, extra_context: Any = None) -> Any:
        if request.method == "POST" and REDIRECT_FIELD_NAME not in request.POST:
            # Signed in without a page to go back to: the workspace (LOGIN_REDIRECT_URL is the API's root).
            posted = request.POST.copy()
            posted[REDIRECT_FIELD_NAME] = reverse(f"{self.name}:index")
            request.POST = posted  # type: ignore[assignment]
        return rendered_inside(super().login)(request, extra_context)

    def logout(self, request: HttpRequest, extra_context: Any = None) -> Any:
        return rendered_inside(super().logout)(request, extra_context)


class WorkspaceAdmin(BoundedListAdmin):
    """A tenant model's pages in the workspace (see the module's docstring).

    Who may do what is by role: `view_roles` see the pages, `write_roles` add and change, `delete_roles`
    delete. Writes go through the generic services by default (validated, inside the gym, cache dropped);
    a model with services of its own overrides `write()` and `delete_model()`. No editable inlines: a form
    writes when it is valid (get_form()), before any inline is checked.
    """

    view_roles: frozenset[str] = EVERYONE
    write_roles: frozenset[str] = MANAGERS
    delete_roles: frozenset[str] | None = None  # None: the write_roles
    exclude: ClassVar[Any] = ("gym",)
    view_on_site = False
    change_form_template = "workspace/change_form.html"
    change_list_template = "workspace/change_list.html"

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """Only the list's own filters, as their links write them, with their own values. Django's admin takes
        any lookup on any field of the row (?password__startswith= answered a hash's prefix, a row at a
        time; ?status__regex=( was a 500): anything else is refused (400), a value not of the filter is
        the admin's "bad filter" answer."""
        filtered = {name if isinstance(name, str) else name[0] for name in self.list_filter
                    if isinstance(name, (str, tuple))}
        own_filters = {item.parameter_name for item in self.list_filter
                       if isinstance(item, type) and issubclass(item, admin.SimpleListFilter)}
        if lookup in own_filters:  # it checks its value itself (GymChoiceFilter)
            return True
        field_name, _, rest = lookup.partition(LOOKUP_SEP)
        if field_name not in filtered:
            return False
        field = self.model._meta.get_field(field_name)
        if rest == "isnull" and field.null:
            allowed = {"True", "False", "1", "0"}
        elif field.is_relation and rest == "id__exact":
            related: Any = field.related_model._default_manager
            if hasattr(related, "for_gym") and request is not None:
                rows = related.for_gym(gym_id_of_request(request))
            else:
                rows = related.all()
            try:
                found = rows.filter(pk=value).exists()
            except (ValidationError, ValueError):  # not an id at all
                found = False
            allowed = {value} if found else set()
        elif rest == "exact" and isinstance(field, models.BooleanField):
            allowed = {"True", "False", "1", "0"}
        elif rest == "exact" and field.choices:
            allowed = {str(choice) for choice, _ in field.flatchoices}
        elif rest == "exact" and not field.is_relation:  # a value listed by the field's own filter
            allowed = {value} if "\x00" not in value and len(value) <= 255 else set()
        else:
            return False
        if value not in allowed:
            raise IncorrectLookupParameters(f"{value!r} is not a {field.verbose_name} of this list.")
        return True

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if isinstance(db_field, models.DateTimeField) and formfield is not None:
            formfield.validators.append(sensible_moment)  # as the API's: a year 9999 broke every list of them
        return formfield

    def get_queryset(self, request: HttpRequest) -> Any:
        queryset = self.model.objects.for_gym(gym_id_of_request(request))
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def response_action(self, request: HttpRequest, queryset: Any) -> Any:
        # The selected ids must be ids (a malformed one was a 500 when the rows were filtered by it).
        for selected in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
            try:
                self.model._meta.pk.to_python(selected)
            except ValidationError:
                self.message_user(request, f"{selected!r} is not the id of a row.", messages.ERROR)
                return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        found = super().get_object(request, object_id, from_field)
        if found is None:  # missing, malformed or another gym's: the same 404 (not the admin's redirect)
            raise Http404("No such object in your gym.")
        return found

    # The admin's log (django_admin_log) keeps no gym, so row-level security cannot keep one gym's entries
    # from another: the application role may not touch it, and the workspace writes none and shows no history.
    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None

    def log_deletion(self, request: HttpRequest, obj: Any, object_repr: str) -> Any:
        return None

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        return None

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> Any:
        raise Http404("The workspace keeps no history of edits.")

    def _role_in(self, request: HttpRequest, roles: frozenset[str]) -> bool:
        return role_of(request.user) in roles if getattr(request.user, "gym_id", None) else False

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._role_in(request, self.view_roles)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._role_in(request, self.view_roles | self.write_roles)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._role_in(request, self.write_roles)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._role_in(request, self.write_roles)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._role_in(request, self.write_roles if self.delete_roles is None else self.delete_roles)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # Only the gym's rows to choose from (row-level security would hide the others anyway).
        related = db_field.related_model
        if "queryset" not in kwargs and hasattr(related.objects, "for_gym"):
            kwargs["queryset"] = related.objects.for_gym(gym_id_of_request(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        related = db_field.related_model
        if "queryset" not in kwargs and hasattr(related.objects, "for_gym"):
            kwargs["queryset"] = related.objects.for_gym(gym_id_of_request(request))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        """The model's form, which writes through `write()` once it is valid: a refusal of the service (a
        phone another lead has, a status the rules do not allow) is an error on the form, not a 500."""
        form_class = super().get_form(request, obj, change, **kwargs)
        model_admin = self

        class WrittenThroughServices(form_class):  # type: ignore[valid-type,misc]
            def is_valid(self) -> bool:
                # Once every check of the form has run (the status rules' too), and only if all passed.
                if not super().is_valid():
                    return False
                try:
                    with transaction.atomic():  # a savepoint: a refusal leaves the page's transaction usable
                        self.instance = model_admin.write(request, self, change)
                except ValidationError as error:
                    add_errors(self, error)
                except IntegrityError as error:  # a constraint only the database sees whole (a taken email)
                    refusal = validation_error_of(error)
                    if refusal is None:
                        raise
                    add_errors(self, refusal)
                except DomainError as error:
                    field = getattr(error, "field", None)
                    self.add_error(field if field in self.fields else None, str(error))
                except PermissionDenied as error:  # a rule of the service about who may (only owners make owners)
                    self.add_error(None, str(error))
                return not self.errors

        return WrittenThroughServices

    def form_data(self, form: Any, change: bool) -> dict[str, Any]:
        """The form's model fields, for a service (on a change, only those the user changed)."""
        concrete = {field.name for field in self.model._meta.concrete_fields}
        names = [name for name in form.cleaned_data if name in concrete]
        if change:
            names = [name for name in names if name in form.changed_data]
        return {name: form.cleaned_data[name] for name in names}

    def write(self, request: HttpRequest, form: Any, change: bool) -> Any:
        """Write the valid form through the services; the row written. Override for a model's own services."""
        gym_id = gym_id_of_request(request)
        data = self.form_data(form, change)
        if change:
            return services.update(self.model, gym=gym_id, object_id=form.instance.pk, data=data)
        return services.create(self.model, gym=gym_id, data=data)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Nothing more: the form wrote through the services when it was validated (get_form())."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Nothing: the workspace edits no related rows in a form (a service writes them, or a page of theirs)."""

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.delete(self.model, gym=gym_id_of_request(request), object_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            self.delete_model(request, obj)
