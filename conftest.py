"""Fixtures shared by every app's tests: two gyms, so that isolation is always tested."""

import pytest

from accounts.tests.factories import UserFactory
from gyms.tests.factories import GymFactory


@pytest.fixture
def gym(db):
    return GymFactory(name="Gym A")


@pytest.fixture
def other_gym(db):
    return GymFactory(name="Gym B")


@pytest.fixture
def superuser(db):
    return UserFactory(gym=None, role=None, is_staff=True, is_superuser=True, email="platform@reps.test")
