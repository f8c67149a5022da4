from reps.core.querysets import TenantQuerySet


class AppointmentQuerySet(TenantQuerySet):
    pass
