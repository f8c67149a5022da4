"""The repository factories: views and services ask them, whatever USE_CACHED_REPOSITORIES says."""

from contextlib import contextmanager, nullcontext

import pytest
from django.db import transaction

from appointments.querysets import appointment_repository
from calls.querysets import call_repository
from leads.querysets import CachedLeadRepository, LeadRepository, lead_repository
from leads.tests.factories import LeadFactory, LeadQualificationFactory
from reps.tenancy.database import gym_scope, gym_transaction
from reps.tenancy.state import ScopeError

pytestmark = pytest.mark.django_db
WIDE = ("2020-01-01", "2099-12-31")


def test_the_factory_hands_out_a_gyms_repositories(gym, other_gym):
    scored = LeadQualificationFactory(lead__gym=gym, score=90).lead
    LeadQualificationFactory(lead__gym=other_gym, score=100)

    with gym_transaction(gym):
        leads = lead_repository(gym)
        assert isinstance(leads, LeadRepository)
        assert leads.prioritized() == [scored]
        assert leads.conversion_stats(*WIDE)["new"] == 1
        assert leads.dashboard()["lead_counts"]["new"] == 1
        assert call_repository(gym).metrics(*WIDE)["total_calls"] == 0
        assert appointment_repository(gym).upcoming() == []


@pytest.mark.parametrize("cached", [True, False])
def test_the_setting_chooses_cached_or_plain_repositories_with_the_same_answers(gym, settings, cached):
    settings.USE_CACHED_REPOSITORIES = cached
    LeadQualificationFactory(lead__gym=gym, score=90)
    LeadFactory(gym=gym)

    for _ in range(2):  # the second read comes from the cache when it is on
        with gym_transaction(gym):
            leads = lead_repository(gym)
            assert isinstance(leads, CachedLeadRepository) is cached
            assert leads.conversion_stats(*WIDE)["new"] == 2
            assert [lead.qualification.score for lead in leads.prioritized()[:1]] == [90]
            assert leads.dashboard()["lead_counts"]["new"] == 2
            assert call_repository(gym).metrics(*WIDE)["total_calls"] == 0
            assert appointment_repository(gym).stats(*WIDE)["scheduled"] == 0


def test_a_cached_prioritized_list_is_the_rows_the_database_has_and_reads_no_table(
        gym, settings, django_assert_num_queries):
    settings.USE_CACHED_REPOSITORIES = True
    LeadQualificationFactory(lead__gym=gym, score=90, qualified_at="2026-03-01T12:00:00.123456Z")
    LeadFactory(gym=gym, last_interaction="2026-03-02T08:30:00.654321+02:00", notes="ünïcode")
    with gym_transaction(gym):
        fresh = LeadRepository(gym).prioritized()
        lead_repository(gym).prioritized()  # caches it

    with gym_transaction(gym), django_assert_num_queries(0):
        cached = lead_repository(gym).prioritized()
        qualifications = [getattr(lead, "qualification", None) for lead in cached]

    def columns(row):
        return None if row is None else {f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields}

    assert [columns(lead) for lead in cached] == [columns(lead) for lead in fresh]
    assert [columns(q) for q in qualifications] == [columns(getattr(lead, "qualification", None)) for lead in fresh]
    assert qualifications[0].lead is cached[0] and qualifications[1] is None


@contextmanager
def scope_then_transaction(gym):
    with gym_scope(gym), transaction.atomic():
        yield


PLACES = {
    "no scope": lambda gym, other_gym: nullcontext(),
    "scope without a transaction": lambda gym, other_gym: gym_scope(gym),
    "another gym's transaction": lambda gym, other_gym: gym_transaction(other_gym),
    "scope entered before the transaction": lambda gym, other_gym: scope_then_transaction(gym),
}


@pytest.mark.django_db(transaction=True)  # as a job runs: outside any test transaction
@pytest.mark.parametrize("cached", [True, False])
@pytest.mark.parametrize("where", PLACES)
def test_a_repository_refuses_to_read_outside_its_gyms_transaction(gym, other_gym, settings, cached, where):
    """Under row-level security such a read sees an empty gym, and a cached one would keep serving it."""
    settings.USE_CACHED_REPOSITORIES = cached
    LeadFactory(gym=gym)

    with PLACES[where](gym, other_gym), pytest.raises(ScopeError):
        lead_repository(gym).conversion_stats(*WIDE)

    with gym_transaction(gym):  # nothing wrong was cached meanwhile
        assert lead_repository(gym).conversion_stats(*WIDE)["new"] == 1
