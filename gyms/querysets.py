from reps.core.querysets import TenantQuerySet


class KnowledgeBaseEntryQuerySet(TenantQuerySet):
    def active(self):
        return self.filter(is_active=True)
