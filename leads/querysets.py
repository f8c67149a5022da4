from reps.core.querysets import TenantQuerySet


class LeadQuerySet(TenantQuerySet):
    pass


class LeadTagQuerySet(TenantQuerySet):
    pass
