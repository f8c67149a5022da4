"""The bases of the repositories (the seed's section 11): a model's reads for one gym, cached or not.

Each app keeps its repository beside its QuerySet (leads.querysets.lead_repository(gym) and the like): a
plain one that delegates to the QuerySet, and a cached one that puts the expensive reads behind
reps.core.cache. settings.USE_CACHED_REPOSITORIES chooses which the factory hands out, not the caller.

A repository reads inside its gym's scope and transaction, where row-level security shows the gym's
rows (a view's request, a service, gym_transaction(gym)); anywhere else it raises ScopeError, so that a
cached read never computes, and stores, an empty gym.

The heavy reads may run on the read replica (reps.tenancy.replica): the plain repositories' aggregates wear
@on_replica, and a cached read computes on it only when it has all the primary had written (fresh).
"""

import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from django.apps import apps

from reps.tenancy.database import require_gym_transaction
from reps.tenancy.replica import on_replica, reads_alias
from reps.tenancy.state import gym_id_of

from . import cache


class Repository:
    """The reads of one model ("app.Model") for one gym."""

    model_label: ClassVar[str]

    def __init__(self, gym: Any) -> None:
        self.gym_id: uuid.UUID = gym_id_of(gym)

    def check_scope(self) -> None:
        require_gym_transaction(self.gym_id, using=reads_alias())  # the replica's transaction, when reading there

    @property
    def objects(self) -> Any:
        """The model's rows of this gym, once the scope is checked."""
        self.check_scope()
        return apps.get_model(self.model_label).objects.for_gym(self.gym_id)


class CachedRepository(Repository):
    def cached(self, namespace: str, args: Any, compute: Callable[[], Any], **codec: Any) -> Any:
        """compute() through the cache, inside this gym's transaction scope only."""
        self.check_scope()
        # Computed after the cache's generation is read: on the replica only if it has every commit by then,
        # the one behind the last invalidation included, or a stale value would be kept for the whole TTL.
        return cache.cached_read(namespace, self.gym_id, args, cache.NAMESPACES[namespace],
                                 on_replica(compute, fresh=True), **codec)
