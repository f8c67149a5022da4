"""The notifications' repository: NotificationQuerySet."""

import datetime

from django.db.models import Q

from reps.tenancy.queryset import TenantQuerySet

from .choices import NotificationStatus


class NotificationQuerySet(TenantQuerySet):
    def due(self, now: datetime.datetime) -> "NotificationQuerySet":
        """Pending ones whose time has come, and ones claimed by a worker that has not finished in time (it died
        or hung: the claim ran out)."""
        return self.filter(
            Q(status=NotificationStatus.PENDING, send_at__lte=now)
            | Q(status=NotificationStatus.SENDING, claimed_until__lte=now))

    def for_list(self) -> "NotificationQuerySet":
        return self.order_by("-send_at", "-id")
