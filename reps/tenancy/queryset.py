"""The repository base of every tenant model: TenantQuerySet, and the fail-closed manager built on it.

`Model.objects.for_gym(gym)` is how code reads tenant rows; domain queries
chain on it. Behind it, the default manager refuses to run a query when no
gym is current (state.current_gym_id()): a query that forgot its gym raises
ScopeError instead of reading every gym's rows. `unscoped()` is the one named
way around it, for the admin, migrations and platform jobs.
"""

import datetime
import uuid
from typing import Any, Self

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, FieldError, ValidationError
from django.db import models

from reps.core.cache import affected_by, affected_by_delete, invalidate_after, invalidate_everywhere_after
from reps.core.dates import local_day_bounds
from reps.core.exceptions import DomainError
from reps.core.pagination import rows_at

from .state import ALL_GYMS, ScopeError, current_gym_id, gym_id_of


class InvalidQuery(DomainError, ValueError):
    """An unknown filter field, sort key or malformed value in list()."""

    code = "invalid_query"


class TenantQuerySet(models.QuerySet[Any]):
    """The repository of a tenant model: every read starts at for_gym()."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set by for_gym(), for methods that build related querysets or need
        # the gym's time zone; _gym only when for_gym() was given a Gym.
        self._gym_id: uuid.UUID | None = None
        self._gym: Any = None
        # Set by the default manager when it built this queryset with no
        # current gym: running it raises ScopeError unless for_gym() or
        # unscoped() was called on the way.
        self._missing_scope = False

    def _clone(self) -> Self:
        clone = super()._clone()  # type: ignore[misc]
        clone._gym_id, clone._gym, clone._missing_scope = self._gym_id, self._gym, self._missing_scope
        return clone

    # --- the safety net: every way a queryset reaches the database checks it.

    def _check_scope(self) -> None:
        if self._missing_scope and not self.query.is_empty():
            name = self.model.__name__
            raise ScopeError(
                f"{name} was queried with no current gym: use {name}.objects.for_gym(gym), "
                "run inside gym_scope(gym), or, in platform code, unscoped()."
            )

    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._check_scope()
        super()._fetch_all()

    def iterator(self, *args: Any, **kwargs: Any) -> Any:
        self._check_scope()
        return super().iterator(*args, **kwargs)

    def count(self) -> int:
        self._check_scope()
        return super().count()

    def exists(self) -> bool:
        self._check_scope()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._check_scope()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        self._check_scope()
        updated = super().update(**kwargs)
        self._invalidate_on_commit(affected_by(self.model))
        return updated

    def delete(self) -> tuple[int, dict[str, int]]:
        self._check_scope()
        deleted = super().delete()
        self._invalidate_on_commit(affected_by_delete(self.model))
        return deleted

    def _invalidate_on_commit(self, namespaces: tuple[str, ...]) -> None:
        """What a write of these rows makes stale in the cache, as the services do for their writes: a cached
        read (the prioritized leads' rows) must not outlive a lead marked do-not-call here. Registered after
        the write, so that outside a transaction it follows it. A write of rows of no one gym (unscoped,
        platform code) makes every gym's cache stale."""
        if not namespaces:
            return
        current = current_gym_id()
        gym_id = self._gym_id or (current if current is not ALL_GYMS else None)
        if gym_id is not None:
            invalidate_after(gym_id, namespaces)
        else:
            invalidate_everywhere_after()

    def explain(self, **options: Any) -> str:
        self._check_scope()
        return super().explain(**options)

    def resolve_expression(self, *args: Any, **kwargs: Any) -> Any:
        # Used as a subquery of another query.
        self._check_scope()
        return super().resolve_expression(*args, **kwargs)

    def for_gym(self, gym_or_id: Any) -> Self:
        gym_id = gym_id_of(gym_or_id)
        queryset = self.filter(gym_id=gym_id)
        queryset._missing_scope = False
        scope = current_gym_id()
        if scope is not None and scope is not ALL_GYMS and scope != gym_id:
            # Inside gym h's request or job, for_gym(g) finds nothing of g.
            queryset = queryset.none()
        queryset._gym_id = gym_id
        queryset._gym = gym_or_id if getattr(gym_or_id, "_meta", None) and gym_or_id._meta.label == "gyms.Gym" else None
        return queryset

    def unscoped(self) -> Self:
        """Every gym's rows: for the admin, migrations and platform jobs only."""
        queryset = self.all()
        queryset._missing_scope = False
        return queryset

    @property
    def scoped_gym_id(self) -> uuid.UUID:
        if self._gym_id is None:
            raise ValueError("Call for_gym() before this method: it needs to know the gym.")
        return self._gym_id

    def scoped_gym(self) -> Any:
        """The gym given to for_gym(), fetched once if only its id was given."""
        if self._gym is None:
            self._gym = apps.get_model("gyms", "Gym").objects.get(pk=self.scoped_gym_id)
        return self._gym

    def count_by_status(self, time_field: str, start_date: datetime.date | str, end_date: datetime.date | str,
                        statuses: list[str]) -> dict[str, int]:
        """{status: rows with time_field in [start_date, end_date]} in the gym's local days, every status present."""
        start, end = local_day_bounds(start_date, end_date, self.scoped_gym().timezone)
        counts = dict(
            self.filter(**{f"{time_field}__gte": start, f"{time_field}__lt": end})
            .order_by()
            .values_list("status")
            .annotate(count=models.Count("pk"))
        )
        return {status: counts.get(status, 0) for status in statuses}

    def get_by_id(self, object_id: Any) -> Any:
        """The object with this id, or None (also for a malformed id)."""
        try:
            object_id = uuid.UUID(str(object_id))
        except ValueError:
            return None
        return self.filter(pk=object_id).first()

    def list(self, filters: dict[str, Any] | None = None, sort_by: str | None = None, sort_dir: str = "asc",
             skip: int = 0, limit: int = 100) -> list[Any]:
        """The seed's generic list, failing loudly where the seed ignored input.

        `filters` maps field names to values (a list or tuple means IN);
        an unknown field, sort key or direction raises InvalidQuery (a
        ValueError). `limit` is capped at settings.REPOSITORY_MAX_LIMIT.
        """
        queryset = self
        for name, value in (filters or {}).items():
            field = self._concrete_field(name, "filter")
            lookup = field.attname
            self._check_choices(name, field, value)
            if isinstance(value, (list, tuple, set, frozenset)):
                lookup, value = f"{lookup}__in", list(value)
            elif value is None:
                lookup, value = f"{lookup}__isnull", True
            try:
                queryset = queryset.filter(**{lookup: value})
            except (ValidationError, FieldError, TypeError, ValueError) as error:
                raise InvalidQuery(f"Invalid value for filter {name!r}: {error}") from None
        if sort_dir not in ("asc", "desc"):
            raise InvalidQuery(f"sort_dir must be 'asc' or 'desc', not {sort_dir!r}.")
        if sort_by is not None:
            column = self._concrete_field(sort_by, "sort").attname
            # The primary key breaks ties, so that pages never overlap.
            order = [column, "pk"] if sort_dir == "asc" else [f"-{column}", "-pk"]
            queryset = queryset.order_by(*order)
        elif not queryset.query.order_by:
            # The model's ordering, down to the primary key that breaks its ties.
            ordering = list(self.model._meta.ordering)
            if all(isinstance(term, str) and term.lstrip("-") not in ("pk", "id") for term in ordering):
                last_descending = bool(ordering) and str(ordering[-1]).startswith("-")
                queryset = queryset.order_by(*ordering, "-pk" if last_descending else "pk")
        skip, limit = int(skip), int(limit)
        if skip < 0 or limit < 0:
            raise InvalidQuery("skip and limit cannot be negative.")
        limit = min(limit, settings.REPOSITORY_MAX_LIMIT)
        # A list, as the seed's list() returned; chain on the QuerySet itself for more.
        return rows_at(queryset, skip, limit)

    @staticmethod
    def _check_choices(name: str, field: Any, value: Any) -> None:
        if not field.choices:
            return
        allowed = {str(choice) for choice, _ in field.flatchoices}
        values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
        unknown = [v for v in values if v is not None and str(v) not in allowed]
        if unknown:
            raise InvalidQuery(f"{unknown[0]!r} is not a valid {name}; choose from {', '.join(sorted(allowed))}.")

    def _concrete_field(self, name: str, purpose: str) -> Any:
        try:
            field = self.model._meta.get_field(name)
        except FieldDoesNotExist:
            field = None
        if field is None or not field.concrete or field.many_to_many:
            known = sorted(f.name for f in self.model._meta.concrete_fields)
            raise InvalidQuery(f"Cannot {purpose} {self.model.__name__} by {name!r}; known fields: {', '.join(known)}.")
        return field


class TenantManager(models.Manager[Any]):
    """The default manager of tenant models: the safety net. Models build theirs with their repository:
    `objects = TenantManager.from_queryset(LeadQuerySet)()`.

    A query through it runs only for the current gym (or, for platform code,
    every gym); built with no gym current, it raises ScopeError when it runs
    (building one is harmless: frameworks inspect querysets without running
    them). `for_gym()` and `unscoped()` are the explicit ways in. Inserts
    need no scope.
    """

    def get_queryset(self) -> Any:
        scope = current_gym_id()
        queryset = super().get_queryset()
        if scope is ALL_GYMS:
            return queryset
        if scope is None:
            queryset._missing_scope = True  # type: ignore[attr-defined]
            return queryset
        return queryset.for_gym(scope)  # type: ignore[attr-defined]

    def _unchecked_queryset(self) -> Any:
        return super().get_queryset()

    def for_gym(self, gym_or_id: Any) -> Any:
        return self._unchecked_queryset().for_gym(gym_or_id)

    def unscoped(self) -> Any:
        return self._unchecked_queryset()

    def create(self, **kwargs: Any) -> Any:
        return self._unchecked_queryset().create(**kwargs)

    def bulk_create(self, *args: Any, **kwargs: Any) -> Any:
        return self._unchecked_queryset().bulk_create(*args, **kwargs)
