"""The base of every API view: tenant-scoped querysets, roles, gym-scoped related fields."""

import datetime
import uuid

import django_filters
from django.db import InterfaceError, OperationalError, transaction
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError

from . import scoping, services
from .permissions import EVERYONE, RolePermission


class GymScopedMixin:
    """Everything this view reads comes from `Model.objects.for_gym(request.user.gym)`.

    Each request runs in one transaction, from before authentication until
    the response is rendered. The transaction acts as the application role
    for the user's gym, so PostgreSQL's row-level security hides every other
    gym's rows even from a query that forgot its gym; and the request runs in
    the user's gym scope (reps.core.scoping), so such a query raises first.
    A request that fails half-way leaves nothing it wrote.
    """

    model = None
    permission_classes = [RolePermission]
    write_roles = EVERYONE

    @property
    def gym_id(self):
        return getattr(self.request.user, "gym_id", None)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.model.objects.none()  # the schema generator inspects it without a user
        return self.shape_queryset(self.model.objects.for_gym(self.gym_id))

    def shape_queryset(self, queryset):
        """What this view loads with its rows (select_related, prefetches): override per view."""
        return queryset

    def get_serializer_context(self):
        parent = getattr(super(), "get_serializer_context", None)  # plain APIViews have none
        context = parent() if parent else {"request": self.request, "view": self}
        user = getattr(self.request, "user", None)
        context["gym_id"] = getattr(user, "gym_id", None)
        return context

    def dispatch(self, request, *args, **kwargs):
        """Whatever escapes, the scope and the transaction end here."""
        self._scope_token = self._atomic = self._replaced_settings = None
        try:
            return super().dispatch(request, *args, **kwargs)
        except BaseException:
            self._end_transaction(commit=False)
            raise
        finally:
            if self._scope_token is not None:
                scoping.deactivate(self._scope_token)
                self._scope_token = None

    def initial(self, request, *args, **kwargs):
        # Opened inside DRF's error handling, so that a database that is down is a clean 503.
        nested = transaction.get_connection().in_atomic_block
        atomic = transaction.atomic()
        atomic.__enter__()
        self._atomic = atomic  # only once it is open: the database may be down
        # Until authentication has found the user's gym, the transaction sees no gym's rows.
        replaced = scoping.set_transaction_gym(None)
        self._replaced_settings = replaced if nested else None  # to put back for the caller's transaction
        super().initial(request, *args, **kwargs)  # authenticates, checks permissions and throttles
        gym_id = getattr(request.user, "gym_id", None)
        if gym_id is not None:
            if scoping.transaction_gym() != gym_id:  # token authentication set it already
                scoping.set_transaction_gym(gym_id)
            self._scope_token = scoping.activate(gym_id)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if hasattr(response, "render") and not response.is_rendered:
            response.render()  # inside the transaction and scope: the browsable API builds forms while rendering
        if self._atomic is not None:
            try:
                self._end_transaction(commit=response.status_code < 400)
            except (OperationalError, InterfaceError) as error:
                # The commit failed: nothing was written.
                response = super().finalize_response(request, self.handle_exception(error), *args, **kwargs)
                response.render()
        return response

    def _end_transaction(self, commit):
        atomic, self._atomic = self._atomic, None
        if atomic is None:
            return
        if not commit:
            transaction.set_rollback(True)
        else:
            scoping.restore_transaction_gym(self._replaced_settings)
        atomic.__exit__(None, None, None)


class GymModelViewSet(GymScopedMixin, viewsets.ModelViewSet):
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]


class GymReadOnlyViewSet(GymScopedMixin, viewsets.ReadOnlyModelViewSet):
    pass


class TenantCrudViewSet(GymModelViewSet):
    """CRUD through the generic services, which keep every write inside the caller's gym."""

    def perform_create(self, serializer):
        serializer.instance = services.create(self.model, gym=self.gym_id, data=serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.update(
            self.model, gym=self.gym_id, object_id=serializer.instance.pk, data=serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.delete(self.model, gym=self.gym_id, object_id=instance.pk)


class GymRelatedField(serializers.PrimaryKeyRelatedField):
    """A related id that must name a row of the request's gym.

    Fails closed: without a gym in the serializer context nothing matches.
    Another gym's id gets the same answer as an id that does not exist.
    """

    default_error_messages = {
        "does_not_exist": "No {model} with id {pk_value} in your gym.",
        "incorrect_type": "Not an id: expected a UUID, got {data_type}.",
        "invalid_uuid": "{value!r} is not a valid id (a UUID).",
    }

    def __init__(self, model, **kwargs):
        self.model = model
        if not kwargs.get("read_only"):
            kwargs["queryset"] = model._base_manager.none()  # replaced by get_queryset()
        super().__init__(**kwargs)

    def get_queryset(self):
        gym_id = self.context.get("gym_id")
        if gym_id is None:
            return self.model._base_manager.none()
        return self.model.objects.for_gym(gym_id)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (str, uuid.UUID)):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            pk = uuid.UUID(str(data))
        except ValueError:
            self.fail("invalid_uuid", value=data)
        row = self.get_queryset().filter(pk=pk).first()
        if row is None:
            self.fail("does_not_exist", model=self.model._meta.verbose_name, pk_value=pk)
        return row


def date_param(request, name, default=None):
    """A YYYY-MM-DD query parameter as a date; a 400 naming it when malformed."""
    value = request.query_params.get(name)
    if value in (None, ""):
        if default is None:
            raise ValidationError({name: ["This parameter is required (YYYY-MM-DD)."]})
        return default
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise ValidationError({name: [f"{value!r} is not a date; use YYYY-MM-DD."]}) from None


def int_param(request, name, default, minimum=1, maximum=100):
    value = request.query_params.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not minimum <= number <= maximum:
        raise ValidationError({name: [f"Must be a whole number from {minimum} to {maximum}."]})
    return number


def date_range_params(request, gym_timezone):
    """?start=&end= (both inclusive local days); by default the 30 days up to today in the gym.

    `gym_timezone()` gives the gym's zone; it is asked only when a default is needed.
    """
    import zoneinfo

    from django.utils import timezone

    end = date_param(request, "end", None) if request.query_params.get("end") else None
    start = date_param(request, "start", None) if request.query_params.get("start") else None
    if end is None:
        end = timezone.now().astimezone(zoneinfo.ZoneInfo(gym_timezone())).date()
    if start is None:
        start = end - datetime.timedelta(days=29)
    if start > end:
        raise ValidationError({"start": ["The start date is after the end date."]})
    return start, end


class GymModelChoiceFilter(django_filters.ModelChoiceFilter):
    """A filter by a related id of the request's gym; another gym's id is a 400 like a missing one."""

    def __init__(self, *args, model, **kwargs):
        self.related_model = model
        super().__init__(*args, queryset=self.gym_rows, **kwargs)

    def gym_rows(self, request):
        gym_id = getattr(getattr(request, "user", None), "gym_id", None)
        if gym_id is None:
            return self.related_model._base_manager.none()
        return self.related_model.objects.for_gym(gym_id)


class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """true or false; anything else is a 400 (django-filter's BooleanFilter ignores it)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        kwargs.setdefault("coerce", lambda value: value == "true")
        super().__init__(*args, **kwargs)


class MomentFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date and time (with an offset, or in UTC), compared in UTC.

    Python accepts offsets up to ±23:59, PostgreSQL only up to ±15:59: sent
    as it came, "+23:28" would be a database error (schemathesis found it).
    """

    def filter(self, queryset, value):
        if value is not None:
            try:
                value = value.astimezone(datetime.UTC)
            except OverflowError:
                name = next(name for name, one in self.parent.filters.items() if one is self)
                raise ValidationError({name: ["That moment is out of range."]}) from None
        return super().filter(queryset, value)
