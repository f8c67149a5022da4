"""The only base of the API's views: each request in one transaction, inside the user's gym.

- `GymAPIView`, `GymViewSet` (and `GymModelViewSet`, `GymReadOnlyViewSet`,
  `TenantCrudViewSet`) are the bases every view of the API is built on; the
  URL walk test (reps/core/tests/test_urls.py) fails for a view that is not.
- Everything a viewset reads comes from `Model.objects.for_gym(request.user.gym)`:
  a subclass shapes it in `shape_queryset()` and may not override
  `get_queryset()`.
- Writes go through services: a class whose create, update or destroy would
  fall back to DRF's default `perform_*` (a plain `serializer.save()` or
  `instance.delete()`) is refused when it is defined.
- Related ids in bodies (`GymRelatedField`) and in query strings
  (`GymModelChoiceFilter`) name rows of the request's gym; they fail closed.
"""

import uuid
from collections.abc import Iterable
from typing import Any

import django_filters
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, models, transaction
from django.http import Http404
from django.utils import timezone
from rest_framework import mixins, serializers, views, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.relations import MANY_RELATION_KWARGS, PKOnlyObject
from rest_framework.request import Request

from reps.core.filters import LIST_PARAMS
from reps.core.permissions import EVERYONE, RolePermission

from . import database, replica, services, state

# DRF's default writes: a plain serializer.save() or instance.delete(), which no service sees.
DRF_DEFAULT_WRITES = {
    "perform_create": mixins.CreateModelMixin.perform_create,
    "perform_update": mixins.UpdateModelMixin.perform_update,
    "perform_destroy": mixins.DestroyModelMixin.perform_destroy,
}


class GymAPIView(views.APIView):
    """The base of every API view: one transaction per request, acting for the user's gym; the gym's time zone;
    strict query strings. Plain endpoints (an import, a queue, a sign-in) subclass it directly.

    The transaction opens before authentication and ends once the response
    is rendered. It acts as the application role for the user's gym, so
    PostgreSQL's row-level security hides every other gym's rows even from a
    query that forgot its gym; and the request runs in the user's gym scope,
    so such a query raises first. A request that fails half-way leaves
    nothing it wrote. Times without an offset are read, and times are
    answered, in the gym's time zone.

    A query parameter the view does not take is a 400 naming it: a list
    takes its filters, `ordering` and the pagination parameters; any view
    takes `format` and its `extra_query_params` (an @action sets them).
    """

    model: Any = None
    permission_classes = [RolePermission]
    read_roles: frozenset[str] = EVERYONE
    write_roles: frozenset[str] = EVERYONE
    # Roles per action where they differ from write_roles, like {"destroy": MANAGERS}.
    action_roles: dict[str, frozenset[str]] = {}
    extra_query_params: Iterable[str] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise ImproperlyConfigured(
                f"{cls.__qualname__} overrides get_queryset(): every view reads through for_gym(request.user.gym);"
                " shape the rows in shape_queryset() instead."
            )
        if cls.__dict__.get("abstract"):
            return
        for hook, default in DRF_DEFAULT_WRITES.items():
            if getattr(cls, hook, None) is default:
                raise ImproperlyConfigured(
                    f"{cls.__qualname__}.{hook}() would write through DRF's default (no service, no cache"
                    " invalidation, no outbox): override it to call the model's service."
                )

    @property
    def gym_id(self) -> uuid.UUID:
        """The signed-in user's gym; a request without one reads and writes nothing (fails closed)."""
        gym_id = getattr(self.request.user, "gym_id", None)
        if gym_id is None:
            raise PermissionDenied("Sign in as a member of a gym's staff.")
        return gym_id

    @property
    def member(self) -> Any:
        """The signed-in staff member (an accounts.User of the request's gym)."""
        return self.request.user

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False) or self.model is None:
            return self.model._base_manager.none() if self.model else None  # the schema generator, without a user
        return self.shape_queryset(self.model.objects.for_gym(self.gym_id))

    def shape_queryset(self, queryset: Any) -> Any:
        """What this view loads with its rows (select_related, prefetches): override per view."""
        return queryset

    def get_serializer_context(self) -> dict[str, Any]:
        parent = getattr(super(), "get_serializer_context", None)  # plain APIViews have none
        context: dict[str, Any] = parent() if parent else {"request": self.request, "view": self}
        context["gym_id"] = getattr(getattr(self.request, "user", None), "gym_id", None)
        return context

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """Whatever escapes, the scope, the time zone and the transaction end here."""
        self._scope_token: Any = None
        self._atomic: Any = None
        self._replaced_settings: database.Replaced = None
        # Bookkeeping writes (a token's last use) wait for the commit, so that reads may use the replica.
        self._held_writes: list[Any] = []
        held = database.held_writes.set(self._held_writes)
        try:
            return super().dispatch(request, *args, **kwargs)
        except BaseException:
            self._end_transaction(commit=False)
            raise
        finally:
            database.held_writes.reset(held)
            if self._scope_token is not None:
                state.deactivate(self._scope_token)
                self._scope_token = None
            timezone.deactivate()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Opened inside DRF's error handling, so that a database that is down is a clean 503.
        nested = transaction.get_connection().in_atomic_block
        atomic = transaction.atomic()
        atomic.__enter__()
        self._atomic = atomic  # only once it is open: the database may be down
        # Until authentication has found the user's gym, the transaction sees no gym's rows.
        replaced = database.set_transaction_gym(None)
        self._replaced_settings = replaced if nested else None  # to put back for the caller's transaction
        super().initial(request, *args, **kwargs)  # authenticates, checks permissions, throttles
        gym_id = getattr(request.user, "gym_id", None)
        if gym_id is not None:
            if database.transaction_gym() != gym_id:  # token authentication set it already
                database.set_transaction_gym(gym_id)
            self._scope_token = state.activate(gym_id)
            timezone.activate(request.user.gym.tzinfo)  # type: ignore[union-attr]
        self.check_query_params(request)

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:  # DRF's answer to ?format= of no renderer: a 404, as if the URL were wrong
            formats = ", ".join(renderer.format for renderer in self.get_renderers())
            raise ValidationError({"format": [f"Choose one of: {formats}."]}) from None

    def allowed_query_params(self) -> set[str]:
        allowed = {"format", *self.extra_query_params}
        if getattr(self, "action", None) == "list":
            allowed |= LIST_PARAMS
            filterset_class = getattr(self, "filterset_class", None)
            if filterset_class is not None:
                allowed |= set(filterset_class.base_filters)
        return allowed

    def check_query_params(self, request: Request) -> None:
        allowed = self.allowed_query_params()
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            takes = f"this takes: {', '.join(sorted(allowed))}" if allowed - {"format"} else "this takes none"
            raise ValidationError({name: [f"Unknown parameter; {takes}."] for name in unknown})
        # Only a filter of several values (status=new&status=lost) may come twice; elsewhere one would be dropped.
        filterset_class = getattr(self, "filterset_class", None)
        several = {name for name, one in (filterset_class.base_filters.items() if filterset_class else ())
                   if isinstance(one, django_filters.MultipleChoiceFilter)}
        repeated = sorted(name for name in request.query_params
                          if name not in several and len(request.query_params.getlist(name)) > 1)
        if repeated:
            raise ValidationError({name: ["Give this parameter once."] for name in repeated})

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if hasattr(response, "render") and not response.is_rendered:
            response.render()  # inside the transaction and scope: the browsable API builds forms while rendering
        if self._atomic is not None:
            try:
                self._end_transaction(commit=response.status_code < 400)
            except DatabaseError as error:
                if not database.connection_failed(error):
                    raise
                # The commit failed: nothing was written.
                response = super().finalize_response(request, self.handle_exception(error), *args, **kwargs)
                response.render()
        return response

    def _end_transaction(self, commit: bool) -> None:
        atomic, self._atomic = self._atomic, None
        if atomic is None:
            return
        try:
            if not commit:
                transaction.set_rollback(True)
            else:
                for write in self._held_writes:  # still acting for the gym, just before the commit
                    write()
                database.restore_transaction_gym(self._replaced_settings)
        except BaseException:
            transaction.set_rollback(True)  # a held write failed: nothing of the request is kept
            atomic.__exit__(None, None, None)
            raise
        atomic.__exit__(None, None, None)


class GymViewSet(GymAPIView, viewsets.GenericViewSet):
    """A resource of the API. Its writes call services (see the module's docstring)."""


class GymReadOnlyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GymViewSet):
    # A page of rows only reads: on the read replica when it may (reps.tenancy.replica). (No docstring: the
    # API's docs describe each list with its view's.)
    @replica.on_replica
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().list(request, *args, **kwargs)


class GymModelViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin,
                      GymReadOnlyViewSet):
    """Create, read, update and delete; a subclass writes through its services in perform_*()."""

    abstract = True
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]


class TenantCrudViewSet(GymModelViewSet):
    """CRUD through the generic services, which keep every write inside the caller's gym."""

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.create(self.model, gym=self.gym_id, data=serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.update(
            self.model, gym=self.gym_id, object_id=serializer.instance.pk, data=serializer.validated_data
        )

    def perform_destroy(self, instance: Any) -> None:
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

    def __init__(self, model: type[models.Model], **kwargs: Any) -> None:
        self.model = model
        if not kwargs.get("read_only"):
            kwargs["queryset"] = model._base_manager.none()  # replaced by get_queryset()
        super().__init__(**kwargs)

    @classmethod
    def many_init(cls, *args: Any, **kwargs: Any) -> "GymManyRelatedField":  # as DRF's, with our list field
        annotated_ids = kwargs.pop("annotated_ids", None)
        outer = {name: value for name, value in kwargs.items() if name in MANY_RELATION_KWARGS}
        return GymManyRelatedField(child_relation=cls(*args, **kwargs), annotated_ids=annotated_ids, **outer)

    def get_queryset(self) -> Any:
        gym_id = self.context.get("gym_id")
        if gym_id is None:
            return self.model._base_manager.none()
        return self.model.objects.for_gym(gym_id)  # type: ignore[attr-defined]

    def parse_id(self, data: Any) -> uuid.UUID:
        if isinstance(data, bool) or not isinstance(data, (str, uuid.UUID)):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            return uuid.UUID(str(data))
        except ValueError:
            self.fail("invalid_uuid", value=data)

    def to_internal_value(self, data: Any) -> Any:
        pk = self.parse_id(data)
        row = self.get_queryset().filter(pk=pk).first()
        if row is None:
            self.fail("does_not_exist", model=self.model._meta.verbose_name, pk_value=pk)
        return row


class GymManyRelatedField(serializers.ManyRelatedField):
    """A list of related ids of the request's gym: at most API_MAX_IDS, each once, all read in one query."""

    child_relation: GymRelatedField

    def __init__(self, annotated_ids: str | None = None, **kwargs: Any) -> None:
        self.annotated_ids = annotated_ids
        super().__init__(**kwargs)

    def get_attribute(self, instance: Any) -> Any:
        # A list's queryset may annotate the ids (annotated_ids, e.g. LeadQuerySet.for_list): no rows to load.
        ids = getattr(instance, self.annotated_ids, None) if self.annotated_ids else None
        if ids is not None:
            return [PKOnlyObject(pk) for pk in ids]
        return super().get_attribute(instance)

    def to_internal_value(self, data: Any) -> list[Any]:
        if isinstance(data, (str, dict)) or not hasattr(data, "__iter__"):
            self.fail("not_a_list", input_type=type(data).__name__)
        items = list(data)
        if not self.allow_empty and not items:
            self.fail("empty")
        if len(items) > settings.API_MAX_IDS:
            raise ValidationError(f"At most {settings.API_MAX_IDS} ids in one request; send the rest in another.")
        ids = [self.child_relation.parse_id(item) for item in items]
        seen: set[uuid.UUID] = set()
        for pk in ids:
            if pk in seen:
                raise ValidationError(f"{pk} is given twice.")
            seen.add(pk)
        rows = {row.pk: row for row in self.child_relation.get_queryset().filter(pk__in=ids)}
        missing = next((pk for pk in ids if pk not in rows), None)
        if missing is not None:
            self.child_relation.fail("does_not_exist", model=self.child_relation.model._meta.verbose_name,
                                     pk_value=missing)
        return [rows[pk] for pk in ids]


class GymModelChoiceFilter(django_filters.ModelChoiceFilter):
    """A filter by a related id of the request's gym; another gym's id is a 400 like a missing one."""

    def __init__(self, *args: Any, model: type[models.Model], **kwargs: Any) -> None:
        self.related_model = model
        super().__init__(*args, queryset=self.gym_rows, **kwargs)

    def gym_rows(self, request: Any) -> Any:
        gym_id = getattr(getattr(request, "user", None), "gym_id", None)
        if gym_id is None:
            return self.related_model._base_manager.none()
        return self.related_model.objects.for_gym(gym_id)  # type: ignore[attr-defined]
