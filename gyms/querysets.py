from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db.models import F

from reps.tenancy.queryset import TenantQuerySet

# The text-search configuration of the knowledge base; the GIN index on
# KnowledgeBaseEntry is built with it, so changing it needs a migration.
SEARCH_CONFIG = "english"


def knowledge_base_document() -> Any:
    """What is searched: the title weighted above the content. The GIN index is on this expression."""
    return SearchVector("title", weight="A", config=SEARCH_CONFIG) + SearchVector(
        "content", weight="B", config=SEARCH_CONFIG
    )


class KnowledgeBaseEntryQuerySet(TenantQuerySet):
    def active(self) -> "KnowledgeBaseEntryQuerySet":
        return self.filter(is_active=True)

    def matching(self, query: str) -> "KnowledgeBaseEntryQuerySet":
        """Entries matching `query` (web-search syntax: words, "phrases", -not), best first."""
        query = (query or "").strip()
        if not query:
            return self.none()
        search_query = SearchQuery(query, search_type="websearch", config=SEARCH_CONFIG)
        return (
            self.annotate(document=knowledge_base_document())
            .filter(document=search_query)
            .annotate(rank=SearchRank(F("document"), search_query))
            .order_by("-rank", "title")
        )

    def search(self, query: str, limit: int = 20) -> Any:
        """The best `limit` active entries matching `query`."""
        return self.active().matching(query)[:limit]
