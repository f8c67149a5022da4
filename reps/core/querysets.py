import uuid

from django.db import models


def gym_id_of(gym_or_id):
    """The gym's UUID from a Gym, a UUID or its string; never None.

    A missing gym is an error, not "every gym": scoping fails closed.
    """
    if gym_or_id is None:
        raise ValueError("A gym is required to scope this query.")
    if isinstance(gym_or_id, uuid.UUID):
        return gym_or_id
    if isinstance(gym_or_id, str):
        return uuid.UUID(gym_or_id)  # ValueError when malformed
    gym_id = getattr(gym_or_id, "pk", None)
    if not isinstance(gym_id, uuid.UUID):
        raise ValueError(f"Cannot scope a query to {gym_or_id!r}: not a gym.")
    return gym_id


class TenantQuerySet(models.QuerySet):
    """Base of every tenant model's repository: all reads start at for_gym()."""

    def for_gym(self, gym_or_id):
        return self.filter(gym_id=gym_id_of(gym_or_id))

    def unscoped(self):
        """Every gym's rows: for the admin, migrations and platform jobs only."""
        return self.all()


TenantManager = models.Manager.from_queryset(TenantQuerySet)
