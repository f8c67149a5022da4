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


def test_the_cached_choice_falls_back_to_the_plain_repository_until_one_exists(gym, settings):
    settings.USE_CACHED_REPOSITORIES = True
    LeadFactory(gym=gym)

    assert repositories.leads(gym).conversion_stats("2020-01-01", "2099-12-31")["new"] == 1


def test_an_unknown_repository_is_an_error():
    with pytest.raises(ValueError, match="No repository named 'members'"):
        repositories.repository_class("members")
