"""The repository factory (the seed's section 11).

Views and services ask `repositories.leads(gym)` (or calls, appointments)
for a gym's repository and call its reads; whether the answer comes from a
cache is the factory's choice (settings.USE_CACHED_REPOSITORIES), not theirs.
The plain repositories delegate to the tenant QuerySets; the cached ones
put the expensive reads behind reps.core.cache, and the write services
invalidate what each change affects (`invalidate_after`).
"""

from django.conf import settings
from django.utils.module_loading import import_string

from . import cache
from .querysets import gym_id_of

# Cached namespaces and their TTLs in seconds (the seed's where it names one).
TTLS = {
    "prioritized_leads": 300,
    "lead_stats": 3600,
    "lead_dashboard": 300,
    "call_metrics": 600,
    "appointment_stats": 600,
}
EVERYTHING = tuple(TTLS)
# What a change to a row of each model makes stale (the seed's dependent invalidation).
AFFECTED_BY = {
    "leads.Lead": ("lead_stats", "prioritized_leads", "lead_dashboard"),
    "leads.LeadQualification": ("prioritized_leads",),
    "calls.CallLog": ("call_metrics", "prioritized_leads"),
    "appointments.Appointment": ("appointment_stats", "lead_dashboard"),
}


def affected_by(model):
    """The namespaces a change to a row of `model` makes stale."""
    return AFFECTED_BY.get(model._meta.label, ())


def invalidate_after(gym, namespaces):
    """Invalidate these namespaces of the gym when the current transaction commits."""
    if namespaces:
        cache.invalidate_on_commit(gym_id_of(gym), namespaces)


class Repository:
    """The reads of one model for one gym."""

    model_label = None

    def __init__(self, gym):
        from django.apps import apps

        self.gym = gym
        self.model = apps.get_model(self.model_label)

    @property
    def objects(self):
        return self.model.objects.for_gym(self.gym)


class LeadRepository(Repository):
    model_label = "leads.Lead"

    def prioritized(self, limit=20):
        return list(self.objects.prioritized(limit))

    def conversion_stats(self, start_date, end_date):
        return self.objects.conversion_stats(start_date, end_date)

    def dashboard(self):
        from leads.analytics import lead_dashboard

        return lead_dashboard(self.gym)


class CallRepository(Repository):
    model_label = "calls.CallLog"

    def upcoming(self, limit=20):
        return list(self.objects.upcoming(limit))

    def metrics(self, start_date, end_date):
        return self.objects.metrics(start_date, end_date)


class AppointmentRepository(Repository):
    model_label = "appointments.Appointment"

    def upcoming(self, limit=20):
        return list(self.objects.upcoming(limit))

    def stats(self, start_date, end_date):
        return self.objects.stats(start_date, end_date)


class CachedRepositoryMixin:
    def _cached(self, namespace, args, compute, **codec):
        return cache.cached_read(namespace, gym_id_of(self.gym), args, TTLS[namespace], compute, **codec)


class CachedLeadRepository(CachedRepositoryMixin, LeadRepository):
    def prioritized(self, limit=20):
        # The ranking is cached as ids; the rows themselves are read fresh.
        return self._cached(
            "prioritized_leads", {"limit": limit}, lambda: LeadRepository.prioritized(self, limit),
            encode=lambda leads: [str(lead.pk) for lead in leads], decode=self._leads_in_order,
        )

    def _leads_in_order(self, ids):
        rows = {str(lead.pk): lead for lead in self.objects.filter(pk__in=ids).select_related("qualification")}
        return [rows[pk] for pk in ids if pk in rows]

    def conversion_stats(self, start_date, end_date):
        return self._cached("lead_stats", {"start": start_date, "end": end_date},
                            lambda: LeadRepository.conversion_stats(self, start_date, end_date))

    def dashboard(self):
        # Its thirty days roll over at the gym's midnight within the TTL.
        return self._cached("lead_dashboard", {}, lambda: LeadRepository.dashboard(self))


class CachedCallRepository(CachedRepositoryMixin, CallRepository):
    def metrics(self, start_date, end_date):
        return self._cached("call_metrics", {"start": start_date, "end": end_date},
                            lambda: CallRepository.metrics(self, start_date, end_date))


class CachedAppointmentRepository(CachedRepositoryMixin, AppointmentRepository):
    def stats(self, start_date, end_date):
        return self._cached("appointment_stats", {"start": start_date, "end": end_date},
                            lambda: AppointmentRepository.stats(self, start_date, end_date))


# name: (plain repository, caching repository)
REGISTRY = {
    "leads": ("reps.core.repositories.LeadRepository", "reps.core.repositories.CachedLeadRepository"),
    "calls": ("reps.core.repositories.CallRepository", "reps.core.repositories.CachedCallRepository"),
    "appointments": (
        "reps.core.repositories.AppointmentRepository",
        "reps.core.repositories.CachedAppointmentRepository",
    ),
}


def repository_class(name):
    try:
        plain, cached = REGISTRY[name]
    except KeyError:
        raise ValueError(f"No repository named {name!r}; known: {', '.join(REGISTRY)}.") from None
    return import_string(cached if settings.USE_CACHED_REPOSITORIES else plain)


def leads(gym):
    return repository_class("leads")(gym)


def calls(gym):
    return repository_class("calls")(gym)


def appointments(gym):
    return repository_class("appointments")(gym)
