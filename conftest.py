"""Fixtures shared by every app's tests: two gyms, so that isolation is always tested."""

import pytest

from accounts.tests.factories import UserFactory
from appointments.tests.factories import AppointmentFactory
from calls.tests.factories import CallTranscriptFactory, CampaignFactory
from gyms.tests.factories import BranchFactory, GymFactory, KnowledgeBaseEntryFactory
from leads.tests.factories import (
    LeadFactory,
    LeadQualificationFactory,
    LeadTagAssignmentFactory,
)
from reps.core.models import OutboxMessage


@pytest.fixture
def gym(db):
    return GymFactory(name="Gym A")


@pytest.fixture
def other_gym(db):
    return GymFactory(name="Gym B")


@pytest.fixture
def superuser(db):
    return UserFactory(gym=None, role=None, is_staff=True, is_superuser=True, email="platform@reps.test")


@pytest.fixture
def add_one_of_everything(db):
    """add_one_of_everything(gym) makes a row of every tenant model in it and returns its lead."""
    return _add_one_of_everything


def _add_one_of_everything(gym):
    branch = BranchFactory(gym=gym)
    lead = LeadFactory(gym=gym, branch=branch)
    LeadQualificationFactory(lead=lead)
    LeadTagAssignmentFactory(lead=lead)
    transcript = CallTranscriptFactory(call__lead=lead, call__campaign=CampaignFactory(gym=gym))
    AppointmentFactory(lead=lead, branch=branch, call=transcript.call)
    KnowledgeBaseEntryFactory(gym=gym)
    OutboxMessage.objects.create(gym=gym, topic="test.event")
    return lead
