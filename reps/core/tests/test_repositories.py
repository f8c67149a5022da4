"""The repository factory: views and services ask it, whatever USE_CACHED_REPOSITORIES says."""

import pytest

from leads.tests.factories import LeadFactory, LeadQualificationFactory
from reps.core import repositories

pytestmark = pytest.mark.django_db


def test_the_factory_hands_out_a_gyms_repositories(gym, other_gym):
    scored = LeadQualificationFactory(lead__gym=gym, score=90).lead
    LeadQualificationFactory(lead__gym=other_gym, score=100)

    leads = repositories.leads(gym)

    assert isinstance(leads, repositories.LeadRepository)
    assert leads.prioritized() == [scored]
    assert leads.conversion_stats("2020-01-01", "2099-12-31")["new"] == 1
    assert leads.dashboard()["lead_counts"]["new"] == 1
    assert repositories.calls(gym).metrics("2020-01-01", "2099-12-31")["total_calls"] == 0
    assert repositories.appointments(gym).upcoming() == []


@pytest.mark.parametrize("cached", [True, False])
def test_the_setting_chooses_cached_or_plain_repositories_with_the_same_answers(gym, settings, cached):
    settings.USE_CACHED_REPOSITORIES = cached
    LeadQualificationFactory(lead__gym=gym, score=90)
    LeadFactory(gym=gym)

    leads = repositories.leads(gym)

    assert isinstance(leads, repositories.CachedLeadRepository) is cached
    for _ in range(2):  # the second read comes from the cache when it is on
        assert leads.conversion_stats("2020-01-01", "2099-12-31")["new"] == 2
        assert [lead.qualification.score for lead in leads.prioritized()[:1]] == [90]
        assert leads.dashboard()["lead_counts"]["new"] == 2
        assert repositories.calls(gym).metrics("2020-01-01", "2099-12-31")["total_calls"] == 0
        assert repositories.appointments(gym).stats("2020-01-01", "2099-12-31")["scheduled"] == 0


def test_an_unknown_repository_is_an_error():
    with pytest.raises(ValueError, match="No repository named 'members'"):
        repositories.repository_class("members")
