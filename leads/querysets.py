"""The leads' repository: LeadQuerySet (every read of a gym's leads) and the (cached) lead repository."""

import datetime
import re
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import F, Prefetch, Q
from django.db.models.expressions import RawSQL

from reps.core import cache
from reps.core.phones import normalize_phone
from reps.core.repositories import CachedRepository, Repository
from reps.tenancy.queryset import TenantQuerySet

from .analytics import lead_dashboard
from .choices import OPEN_STATUSES, LeadStatus

# The cached reads of leads and their TTLs in seconds (the seed's, where it names one).
PRIORITIZED_LEADS = cache.namespace("prioritized_leads", 300)
LEAD_STATS = cache.namespace("lead_stats", 3600)
LEAD_DASHBOARD = cache.namespace("lead_dashboard", 300)


class LeadQuerySet(TenantQuerySet):
    def find_by_phone(self, phone: str) -> Any:
        """The lead with this number, written in any common form; None if none or invalid."""
        raw = (phone or "").strip()
        region = None if raw.startswith("+") else self.scoped_gym().country_code
        try:
            e164 = normalize_phone(raw, region)
        except ValidationError:
            return None
        return self.filter(phone=e164).first()

    def prioritized(self, limit: int = 20) -> list[Any]:
        """Open leads, best qualification score first, then newest; unscored leads after all scored ones.

        Two indexed queries rather than one sort of every open lead: the best
        scored open leads walking the gym's (gym, -score) qualification index,
        then, only if too few, the newest unscored open leads. A list.
        """
        open_leads = self.filter(status__in=OPEN_STATUSES)
        scored = list(
            open_leads.filter(qualification__gym_id=self.scoped_gym_id)
            .select_related("qualification")
            .order_by("-qualification__score", "-created_at", "-id")[:limit]
        )
        if len(scored) < limit:
            scored += list(
                open_leads.filter(qualification__isnull=True).order_by("-created_at", "-id")[: limit - len(scored)]
            )
        return scored

    def search(self, query: str, limit: int = 20) -> "LeadQuerySet":
        """The newest `limit` leads matching `query` (see matching())."""
        newest = self._matches(query).order_by("-created_at", "-id").values("id")[:limit]
        return self.filter(pk__in=newest).order_by("-created_at", "-id")

    def matching(self, query: str) -> "LeadQuerySet":
        """Leads whose name, email or phone contains every word of `query`, any case.

        "jane doe" finds Jane Doe (one word may match the first name, the
        other the last); a query of digits and phone punctuation matches the
        phone in any format ("(212) 555-01", "212.555", "020 7946").
        """
        if not (query or "").strip():
            return self.none()
        sql, params = self._matches(query).values("id").query.sql_with_params()
        # OFFSET 0 has PostgreSQL plan the match on its own: merged into this
        # query, which row-level security guards, its LIKE could not use the
        # trigram indexes (see LeadSearchRow).
        return self.filter(pk__in=RawSQL(f"SELECT id FROM ({sql} OFFSET 0) AS matches", params))

    def _matches(self, query: str) -> Any:
        """The matching rows of the leads_lead_search view (see leads.models.LeadSearchRow), of this gym."""
        rows = apps.get_model("leads", "LeadSearchRow").objects.all()
        query = (query or "").strip()
        if not query:
            return rows.none()
        if self._gym_id is not None:
            rows = rows.filter(gym_id=self._gym_id)  # so that the (gym, created_at) index serves search()
        if re.fullmatch(r"[\d\s()+.\-/]+", query):
            condition = self._phone_fragment(query)
        else:
            condition = Q()
            for word in query.split():
                word_condition = Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(email__icontains=word)
                if len(re.sub(r"\D", "", word)) >= 3:
                    word_condition |= self._phone_fragment(word)
                condition &= word_condition
        return rows.filter(condition)

    @staticmethod
    def _phone_fragment(text: str) -> Q:
        digits = re.sub(r"\D", "", text)
        if not digits:
            return Q(pk__in=[])
        condition = Q(phone__contains=digits)
        if digits.startswith("0") and len(digits) > 1:
            # A national number's trunk 0 is not part of its E.164 form.
            condition |= Q(phone__contains=digits.lstrip("0"))
        return condition

    def with_summary(self) -> "LeadQuerySet":
        """Qualification, branch and tags loaded for a list: two queries in all."""
        tags = self.model._meta.get_field("tags").related_model
        return self.select_related("qualification", "branch").prefetch_related(
            Prefetch("tags", queryset=tags.objects.for_gym(self.scoped_gym_id))
        )

    def with_relationships(self) -> "LeadQuerySet":
        """Qualification, branch, tags, calls (newest first) and appointments: four queries."""
        calls = self.model._meta.get_field("calls").related_model
        appointments = self.model._meta.get_field("appointments").related_model
        gym_id = self.scoped_gym_id
        return self.with_summary().prefetch_related(
            Prefetch(
                "calls",
                queryset=calls.objects.for_gym(gym_id).order_by(F("start_time").desc(nulls_last=True), "-created_at"),
            ),
            Prefetch("appointments", queryset=appointments.objects.for_gym(gym_id).order_by("-scheduled_time")),
        )

    def conversion_stats(self, start_date: datetime.date | str, end_date: datetime.date | str) -> dict[str, int]:
        """{status: leads created in [start_date, end_date]} in the gym's local days, every status present."""
        return self.count_by_status("created_at", start_date, end_date, LeadStatus.values)


class LeadTagQuerySet(TenantQuerySet):
    pass


class LeadRepository(Repository):
    """A gym's lead reads, as the views and services ask for them (lead_repository(gym))."""

    model_label = "leads.Lead"

    def prioritized(self, limit: int = 20) -> list[Any]:
        return list(self.objects.prioritized(limit))

    def conversion_stats(self, start_date: datetime.date | str, end_date: datetime.date | str) -> dict[str, int]:
        return self.objects.conversion_stats(start_date, end_date)

    def dashboard(self) -> dict[str, Any]:
        self.check_scope()
        return lead_dashboard(self.gym_id)


class CachedLeadRepository(CachedRepository, LeadRepository):
    def prioritized(self, limit: int = 20) -> list[Any]:
        # The ranking is cached as ids; the rows themselves are read fresh.
        return self.cached(
            PRIORITIZED_LEADS, {"limit": limit}, lambda: LeadRepository.prioritized(self, limit),
            encode=lambda leads: [str(lead.pk) for lead in leads], decode=self._leads_in_order,
        )

    def _leads_in_order(self, ids: list[str]) -> list[Any]:
        rows = {str(lead.pk): lead for lead in self.objects.filter(pk__in=ids).select_related("qualification")}
        return [rows[pk] for pk in ids if pk in rows]

    def conversion_stats(self, start_date: datetime.date | str, end_date: datetime.date | str) -> dict[str, int]:
        return self.cached(LEAD_STATS, {"start": start_date, "end": end_date},
                           lambda: LeadRepository.conversion_stats(self, start_date, end_date))

    def dashboard(self) -> dict[str, Any]:
        # Its thirty days roll over at the gym's midnight within the TTL.
        return self.cached(LEAD_DASHBOARD, {}, lambda: LeadRepository.dashboard(self))


def lead_repository(gym: Any) -> LeadRepository:
    """The gym's lead repository: the cached one when settings.USE_CACHED_REPOSITORIES is on."""
    return (CachedLeadRepository if settings.USE_CACHED_REPOSITORIES else LeadRepository)(gym)
