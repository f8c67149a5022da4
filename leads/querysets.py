import re

from django.core.exceptions import ValidationError
from django.db.models import F, Prefetch, Q
from django.db.models.expressions import RawSQL

from reps.core.phones import normalize_phone
from reps.core.querysets import TenantQuerySet

# Statuses still worth calling: what prioritized() ranks.
OPEN_STATUSES = ("new", "contacted", "qualified")


class LeadQuerySet(TenantQuerySet):
    def find_by_phone(self, phone):
        """The lead with this number, written in any common form; None if none or invalid."""
        raw = (phone or "").strip()
        region = None if raw.startswith("+") else self.scoped_gym().country_code
        try:
            e164 = normalize_phone(raw, region)
        except ValidationError:
            return None
        return self.filter(phone=e164).first()

    def prioritized(self, limit=20):
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

    def search(self, query, limit=20):
        """The newest `limit` leads matching `query` (see matching())."""
        newest = self._matches(query).order_by("-created_at", "-id").values("id")[:limit]
        return self.filter(pk__in=newest).order_by("-created_at", "-id")

    def matching(self, query):
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

    def _matches(self, query):
        """The matching rows of the leads_lead_search view (see LeadSearchRow), of this queryset's gym."""
        from .models import LeadSearchRow

        query = (query or "").strip()
        if not query:
            return LeadSearchRow.objects.none()
        rows = LeadSearchRow.objects.all()
        if self.scoped_gym_id is not None:
            rows = rows.filter(gym_id=self.scoped_gym_id)  # so that the (gym, created_at) index serves search()
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
    def _phone_fragment(text):
        digits = re.sub(r"\D", "", text)
        if not digits:
            return Q(pk__in=[])
        condition = Q(phone__contains=digits)
        if digits.startswith("0") and len(digits) > 1:
            # A national number's trunk 0 is not part of its E.164 form.
            condition |= Q(phone__contains=digits.lstrip("0"))
        return condition

    def with_summary(self):
        """Qualification, branch and tags loaded for a list: two queries in all."""
        from leads.models import LeadTag

        return self.select_related("qualification", "branch").prefetch_related(
            Prefetch("tags", queryset=LeadTag.objects.for_gym(self.scoped_gym_id))
        )

    def with_relationships(self):
        """Qualification, branch, tags, calls (newest first) and appointments: four queries."""
        from appointments.models import Appointment
        from calls.models import CallLog

        gym_id = self.scoped_gym_id
        return self.with_summary().prefetch_related(
            Prefetch(
                "calls",
                queryset=CallLog.objects.for_gym(gym_id).order_by(F("start_time").desc(nulls_last=True), "-created_at"),
            ),
            Prefetch("appointments", queryset=Appointment.objects.for_gym(gym_id).order_by("-scheduled_time")),
        )

    def conversion_stats(self, start_date, end_date):
        """{status: leads created in [start_date, end_date]} in the gym's local days, every status present."""
        from leads.models import LeadStatus

        return self.count_by_status("created_at", start_date, end_date, LeadStatus.values)


class LeadTagQuerySet(TenantQuerySet):
    pass
