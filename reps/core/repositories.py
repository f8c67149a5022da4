"""The repository factory (the seed's section 11).

Views and services ask `repositories.leads(gym)` (or calls, appointments)
for a gym's repository and call its reads; whether the answer comes from a
cache is the factory's choice (settings.USE_CACHED_REPOSITORIES), not theirs.
The plain repositories delegate to the tenant QuerySets.
"""

from django.conf import settings
from django.utils.module_loading import import_string


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


# name: (plain repository, caching repository or None while there is none)
REGISTRY = {
    "leads": ("reps.core.repositories.LeadRepository", None),
    "calls": ("reps.core.repositories.CallRepository", None),
    "appointments": ("reps.core.repositories.AppointmentRepository", None),
}


def repository_class(name):
    try:
        plain, cached = REGISTRY[name]
    except KeyError:
        raise ValueError(f"No repository named {name!r}; known: {', '.join(REGISTRY)}.") from None
    return import_string(cached if settings.USE_CACHED_REPOSITORIES and cached else plain)


def leads(gym):
    return repository_class("leads")(gym)


def calls(gym):
    return repository_class("calls")(gym)


def appointments(gym):
    return repository_class("appointments")(gym)
