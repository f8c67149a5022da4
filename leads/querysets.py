"""The leads' repository: LeadQuerySet (every read of a gym's leads) and the (cached) lead repository."""

import datetime
import json
import re
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.lookups import DataContains
from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import BigIntegerField, BooleanField, F, Func, Prefetch, Q, TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.query import ModelIterable

from reps.core import cache
from reps.core.phones import normalize_phone
from reps.core.repositories import CachedRepository, Repository
from reps.tenancy.database import transaction_gym
from reps.tenancy.queryset import InvalidQuery, TenantQuerySet
from reps.tenancy.replica import on_replica

from .analytics import lead_dashboard
from .choices import OPEN_STATUSES, LeadStatus

# The cached reads of leads and their TTLs in seconds (the seed's, where it names one).
PRIORITIZED_LEADS = cache.namespace("prioritized_leads", 300)
LEAD_STATS = cache.namespace("lead_stats", 3600)
LEAD_DASHBOARD = cache.namespace("lead_dashboard", 300)


MAX_SEARCH_WORDS, MAX_SEARCH_CHARACTERS = 10, 200
# The expressions of lead_platform_search_keys_idx and lead_search_keys_idx (leads migration 0010), written as
# the indexes have them.
SEARCH_KEYS_FIELD: Any = ArrayField(BigIntegerField())
PLATFORM_SEARCH_KEYS = Func(Value(None), F("first_name"), F("last_name"), F("email"), F("phone"),
                            function="reps_lead_search_keys", output_field=SEARCH_KEYS_FIELD)
GYM_SEARCH_KEYS = Func(F("gym_id"), F("first_name"), F("last_name"), F("email"), F("phone"),
                       function="reps_lead_search_keys", output_field=SEARCH_KEYS_FIELD)
# A platform search (the admin's) with more matches than this is a broad one (see matching_condition()).
BROAD_SEARCH_MATCHES = 2_000


class IdIn(Func):
    """`id = ANY(ids::uuid[])`: a row's id among an array's, given as its text (one parameter, however many)."""

    template = "(%(expressions)s::uuid[]))"
    arg_joiner = " = ANY("
    output_field = BooleanField()


class SearchTooLong(InvalidQuery):
    field = "search"


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
                open_leads.filter(qualification__isnull=True).select_related("qualification")  # None: no query
                .order_by("-created_at", "-id")[: limit - len(scored)]
            )
        return scored

    def search(self, query: str, limit: int = 20) -> "LeadQuerySet":
        """The newest `limit` leads matching `query` (see matching())."""
        return self._matching(query, limit).order_by("-created_at", "-id")

    def matching(self, query: str) -> "LeadQuerySet":
        """Leads whose name, email or phone contains every word of `query`, any case.

        "jane doe" finds Jane Doe (one word may match the first name, the
        other the last); a query of digits and phone punctuation matches the
        phone in any format ("(212) 555-01", "212.555", "020 7946").
        """
        return self._matching(query, None)

    def _matching(self, query: str, limit: int | None) -> "LeadQuerySet":
        clauses = self._search_clauses((query or "").strip())
        if not clauses or not all(clauses):
            return self.none()
        if transaction_gym(self.db) is not None:
            # Under row-level security a LIKE on leads_lead cannot use an index (it is not leakproof, so it
            # may only run after the policy, row by row). The database's reps_lead_matches() runs it as the
            # table's owner, for the transaction's gym only, on that gym's trigram keys (leads migrations
            # 0006, 0010); the terms go to it as data, never as SQL. Its ids are read first, as one array,
            # and the rows asked for by that array: a set-returning function's size is a guess to the
            # planner, and on stale statistics (a gym just imported) it joined every match to every lead
            # of the gym (2,250 leads: 210 ms, growing with the square); an array of known length is
            # looked up by id, or hashed.
            with connections[self.db].cursor() as cursor:
                cursor.execute("SELECT count(*), array_agg(id)::text FROM reps_lead_matches(%s::jsonb, %s) AS id",
                               [json.dumps(clauses), limit])
                found, ids = cursor.fetchone()
            return self.filter(IdIn(F("pk"), Value(ids, output_field=TextField()))) if found else self.none()
        if limit is not None:
            keyed, _ = self._platform_conditions(clauses, "")
            return self.filter(pk__in=self.filter(keyed).order_by("-created_at", "-id").values("id")[:limit])
        return self.filter(self.matching_condition(query))

    def matching_condition(self, query: str, lead: str = "") -> Q:
        """For the platform's lists (the admin), with a login that row-level security does not apply to: a
        condition on rows whose lead (the relation `lead`, "lead" or "call__lead"; "" for the leads
        themselves) is one that matching() finds among this queryset's leads.

        The keys carry no statistics, so the planner cannot tell "555" (every lead's phone) from a name
        only one lead has: it read all 1,000,000 matches of "555" through the index and sorted them for a
        page of 100 (2.4 s), and a list of calls searched a subquery of leads for each call (10 s). So the
        matches are found first, through the keys, up to a bound: a narrow search is its leads' ids, looked
        up by id (or by the lead, for calls); a broad one is the LIKEs alone on the row's lead, whose
        columns have statistics, so a list walks its order and tests each row's lead (there are more than
        BROAD_SEARCH_MATCHES to find: a page is near). That broad condition is on the lead's own columns
        only: this queryset's filters (its gym's, for_gym()) must be the list's too.
        """
        clauses = self._search_clauses((query or "").strip())
        prefix = f"{lead}__" if lead else ""
        if transaction_gym(self.db) is not None:  # under row-level security: the gym's own search
            return Q(**{f"{prefix}pk__in": self.matching(query).values("pk")})
        if not clauses or not all(clauses):
            return Q(**{f"{prefix}pk__in": []})
        keyed, _ = self._platform_conditions(clauses, "")
        found = list(self.filter(keyed).order_by().values_list("pk", flat=True)[:BROAD_SEARCH_MATCHES + 1])
        if len(found) <= BROAD_SEARCH_MATCHES:
            return Q(**{f"{prefix}pk__in": found})
        return self._platform_conditions(clauses, prefix)[1]

    def _platform_conditions(self, clauses: list[list[tuple[str, str]]], prefix: str) -> tuple[Q, Q]:
        """(keyed, likes): the search's condition through the trigram keys of every gym
        (lead_platform_search_keys_idx), or of the one gym of a for_gym() queryset (lead_search_keys_idx),
        and the same by its LIKEs alone, on the lead at `prefix`."""
        gym_id = self._gym_id
        keyed, likes_only = Q(), Q()
        for clause in clauses:
            keys, likes = Q(), Q()
            for column, text in clause:
                if gym_id is None:
                    keys |= Q(DataContains(PLATFORM_SEARCH_KEYS, RawSQL(
                        "reps_search_fragment_keys(NULL, %s, %s)", [column, text], SEARCH_KEYS_FIELD)))
                else:
                    keys |= Q(DataContains(GYM_SEARCH_KEYS, RawSQL(
                        "reps_search_fragment_keys(%s::uuid, %s, %s)", [str(gym_id), column, text],
                        SEARCH_KEYS_FIELD)))
                likes |= Q(**{f"{prefix}{column}__{'contains' if column == 'phone' else 'icontains'}": text})
            # (keys and likes): a LIKE's match has the keys, so that is the likes alone, with the keys'
            # index scan to find them (see migration 0010); a fragment without a three-letter run has none.
            has_keys = all(re.search(r"[^\W_]{3}", text) for _, text in clause)
            keyed &= (keys & likes) if has_keys else likes
            likes_only &= likes
        return keyed, likes_only

    @classmethod
    def _search_clauses(cls, query: str) -> list[list[tuple[str, str]]]:
        """[[(column, text), ...], ...]: every clause must have one of its columns containing its text."""
        if not query:
            return []
        # Each word is a clause of its own: 8,000 of them ran out the statement timeout.
        if len(query) > MAX_SEARCH_CHARACTERS or len(query.split()) > MAX_SEARCH_WORDS or "\x00" in query:
            raise SearchTooLong(f"Search with at most {MAX_SEARCH_WORDS} words and {MAX_SEARCH_CHARACTERS}"
                                " characters, and no NUL character.")
        if re.fullmatch(r"[\d\s()+.\-/]+", query):
            return [cls._phone_fragments(query)]
        clauses = []
        for word in query.split():
            clause = [("first_name", word), ("last_name", word), ("email", word)]
            if len(re.sub(r"\D", "", word)) >= 3:
                clause += cls._phone_fragments(word)
            clauses.append(clause)
        return clauses

    @staticmethod
    def _phone_fragments(text: str) -> list[tuple[str, str]]:
        digits = re.sub(r"\D", "", text)
        if not digits:
            return []
        fragments = [("phone", digits)]
        if digits.startswith("0") and len(digits) > 1:
            # A national number's trunk 0 is not part of its E.164 form.
            fragments.append(("phone", digits.lstrip("0")))
        return fragments

    def for_list(self) -> "LeadQuerySet":
        """What a list shows beside each lead: the qualification score (`qualification_score`) and the tag
        ids by tag name (`tag_ids`), read for the whole page in one statement once its rows are read
        (ListedLeads).

        Not model instances: loading a page of 100 leads with their qualifications, branches and tags
        (with_summary) took four times as long as the query. Not subqueries of the page's query either:
        PostgreSQL checks row-level security's gym (reps_current_gym(), an HMAC) again on every run of a
        correlated subquery, twice per lead, 2-3 ms for a page of 100.
        """
        queryset: Any = self.all()
        queryset._iterable_class = ListedLeads
        return queryset

    def with_summary(self) -> "LeadQuerySet":
        """Qualification, branch and tags loaded as objects: two queries in all."""
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

    def for_detail(self, recent_calls: int) -> "LeadQuerySet":
        """with_relationships() in one statement: the tags, the `recent_calls` newest calls and the
        appointments come as JSON rows of the lead's own query, and loaded() puts them where the
        prefetches would. Four statements' planning and Django's prefetching were most of a detail's time.
        """
        gym_id = self.scoped_gym_id
        lead = f'"{self.model._meta.db_table}"."id"'
        tables = {name: self.model._meta.get_field(name).related_model._meta.db_table
                  for name in ("calls", "appointments", "tags")}
        assignments = self.model._meta.get_field("tag_assignments").related_model._meta.db_table
        newest_calls = "start_time DESC NULLS LAST, created_at DESC"
        return self.select_related("qualification", "branch").annotate(
            tag_rows=RawSQL(f"SELECT COALESCE(json_agg(to_json(t) ORDER BY t.name, t.id), '[]') FROM {tables['tags']} t"
                            f" JOIN {assignments} a ON a.tag_id = t.id WHERE a.lead_id = {lead} AND a.gym_id = %s",
                            [gym_id]),
            call_rows=RawSQL(f"SELECT COALESCE(json_agg(to_json(c) ORDER BY {newest_calls}), '[]') FROM"
                             f" (SELECT * FROM {tables['calls']} WHERE lead_id = {lead} AND gym_id = %s"
                             f" ORDER BY {newest_calls} LIMIT %s) c", [gym_id, int(recent_calls)]),
            appointment_rows=RawSQL(f"SELECT COALESCE(json_agg(to_json(p) ORDER BY p.scheduled_time DESC), '[]')"
                                    f" FROM {tables['appointments']} p WHERE p.lead_id = {lead} AND p.gym_id = %s",
                                    [gym_id]),
        )

    @staticmethod
    def loaded(lead: Any) -> Any:
        """The lead of a for_detail() query, its tags, calls and appointments where prefetch_related() puts them."""
        loaded = {}
        for name, rows in (("tags", lead.tag_rows), ("calls", lead.call_rows), ("appointments", lead.appointment_rows)):
            manager = getattr(lead, name)
            related = manager.get_queryset()
            related._result_cache = [cache.row_from(manager.model, row) for row in rows]
            related._prefetch_done = True
            # Where prefetch_related() keeps them: a many-to-many's cache name, or a reverse key's.
            loaded[getattr(manager, "prefetch_cache_name", None) or manager.field.remote_field.cache_name] = related
        lead._prefetched_objects_cache = loaded
        return lead

    def conversion_stats(self, start_date: datetime.date | str, end_date: datetime.date | str) -> dict[str, int]:
        """{status: leads created in [start_date, end_date]} in the gym's local days, every status present."""
        return self.count_by_status("created_at", start_date, end_date, LeadStatus.values)


class ListedLeads(ModelIterable):
    """A page's leads with their qualification score and tag ids (LeadQuerySet.for_list): one more statement.

    Each table of it is one index scan for the page's ids, so the gym is checked once per table.
    """

    def __iter__(self) -> Any:
        leads = list(super().__iter__())
        if not leads:
            return iter(leads)
        queryset: Any = self.queryset
        meta = queryset.model._meta
        qualifications, assignments, tags = (meta.get_field(name).related_model._meta.db_table
                                             for name in ("qualification", "tag_assignments", "tags"))
        gym_id, ids = queryset.scoped_gym_id, [lead.pk for lead in leads]
        scores: dict[Any, int] = {}
        tag_ids: dict[Any, list[Any]] = {lead.pk: [] for lead in leads}
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(
                f'SELECT q.lead_id, q.score, NULL::uuid, NULL FROM "{qualifications}" q'
                " WHERE q.gym_id = %s AND q.lead_id = ANY(%s)"
                f' UNION ALL SELECT a.lead_id, NULL, a.tag_id, t.name FROM "{assignments}" a'
                f' JOIN "{tags}" t ON t.id = a.tag_id WHERE a.gym_id = %s AND a.lead_id = ANY(%s)'
                " ORDER BY 4, 3",  # the tags by name, as a lead's detail lists them
                [gym_id, ids, gym_id, ids])
            for lead_id, score, tag_id, _ in cursor.fetchall():
                if tag_id is None:
                    scores[lead_id] = score
                else:
                    tag_ids[lead_id].append(tag_id)
        for lead in leads:
            lead.qualification_score = scores.get(lead.pk)
            lead.tag_ids = tag_ids[lead.pk]
        return iter(leads)


class LeadTagQuerySet(TenantQuerySet):
    pass


# What a list of import jobs leaves unread: the file and the per-row report (the detail shows the report).
IMPORT_HEAVY_FIELDS = ("text", "report")


class LeadImportQuerySet(TenantQuerySet):
    def for_list(self) -> "LeadImportQuerySet":
        """The jobs without their files or reports: one query for a page, whatever the files' size."""
        return self.defer(*IMPORT_HEAVY_FIELDS)

    def for_detail(self) -> "LeadImportQuerySet":
        return self.defer("text")

    def pending(self, stale_before: datetime.datetime) -> "LeadImportQuerySet":
        """Jobs to hand to the broker: queued, or running with no progress since `stale_before` (their worker
        died), and not handed over since then (never, when the broker was down). As
        reps_gyms_with_pending_imports asks (migration 0009)."""
        return self.filter(
            Q(status="queued") | Q(status="running") & (Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale_before)),
            Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale_before))


class LeadRepository(Repository):
    """A gym's lead reads, as the views and services ask for them (lead_repository(gym))."""

    model_label = "leads.Lead"

    def prioritized(self, limit: int = 20) -> list[Any]:
        return list(self.objects.prioritized(limit))

    @on_replica
    def conversion_stats(self, start_date: datetime.date | str, end_date: datetime.date | str) -> dict[str, int]:
        return self.objects.conversion_stats(start_date, end_date)

    @on_replica
    def dashboard(self) -> dict[str, Any]:
        self.check_scope()
        return lead_dashboard(self.gym_id)


class CachedLeadRepository(CachedRepository, LeadRepository):
    def prioritized(self, limit: int = 20) -> list[Any]:
        # The leads and their qualifications are cached as rows: a hit reads no table. Every write to a
        # lead, a qualification or a call (services and queryset updates alike) invalidates them.
        relation = self._qualification()
        return self.cached(
            PRIORITIZED_LEADS, {"limit": limit, "rows": cache.row_format(relation.model, relation.related_model)},
            lambda: LeadRepository.prioritized(self, limit),
            encode=lambda leads: [self._row_data(lead) for lead in leads],
            decode=lambda rows: [self._lead_from(*row) for row in rows],
        )

    def _row_data(self, lead: Any) -> list[Any]:
        qualification = self._qualification().get_cached_value(lead, default=None)  # select_related()'s
        return [cache.row_data(lead), cache.row_data(qualification) if qualification is not None else None]

    def _lead_from(self, lead_data: dict[str, Any], qualification_data: dict[str, Any] | None) -> Any:
        relation = self._qualification()
        lead = cache.row_from(relation.model, lead_data)
        qualification = cache.row_from(relation.related_model, qualification_data) if qualification_data else None
        relation.set_cached_value(lead, qualification)  # known, None included: reading it runs no query
        if qualification is not None:
            relation.remote_field.set_cached_value(qualification, lead)
        return lead

    def _qualification(self) -> Any:
        return apps.get_model(self.model_label)._meta.get_field("qualification")

    def conversion_stats(self, start_date: datetime.date | str, end_date: datetime.date | str) -> dict[str, int]:
        return self.cached(LEAD_STATS, {"start": start_date, "end": end_date},
                           lambda: LeadRepository.conversion_stats(self, start_date, end_date))

    def dashboard(self) -> dict[str, Any]:
        # Its thirty days roll over at the gym's midnight within the TTL.
        return self.cached(LEAD_DASHBOARD, {}, lambda: LeadRepository.dashboard(self))


def lead_repository(gym: Any) -> LeadRepository:
    """The gym's lead repository: the cached one when settings.USE_CACHED_REPOSITORIES is on."""
    return (CachedLeadRepository if settings.USE_CACHED_REPOSITORIES else LeadRepository)(gym)
