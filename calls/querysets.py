from reps.core.querysets import TenantQuerySet


class CampaignQuerySet(TenantQuerySet):
    pass


class CallLogQuerySet(TenantQuerySet):
    pass
