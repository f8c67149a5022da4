"""Fixtures shared by every app's tests: two gyms, so that isolation is always tested."""

import pytest

from accounts.tests.factories import RoleFactory, UserFactory
from appointments.tests.factories import AppointmentFactory
from calls.tests.factories import CallTranscriptFactory, CampaignFactory
from gyms.tests.factories import BranchFactory, GymFactory, KnowledgeBaseEntryFactory
from leads.tests.factories import (
    LeadFactory,
    LeadImportFactory,
    LeadQualificationFactory,
    LeadTagAssignmentFactory,
)
from notifications.models import NotificationTemplate
from notifications.tests.factories import NotificationFactory, NotificationTemplateFactory
from reps.core.models import OutboxMessage


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache (make test gives the tests their own Redis database)."""
    from django.core.cache import cache

    from reps.core.cache import health

    cache.clear()
    health.reset()


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
def admin_client(client, superuser):
    """The test client signed in as platform staff (pytest-django's own makes a user of its own)."""
    client.force_login(superuser)
    return client


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
    appointment = AppointmentFactory(lead=lead, branch=branch, call=transcript.call)
    NotificationFactory(appointment=appointment)
    if not NotificationTemplate.objects.unscoped().filter(gym=gym).exists():  # one per kind and channel
        NotificationTemplateFactory(gym=gym)
    KnowledgeBaseEntryFactory(gym=gym)
    LeadImportFactory(gym=gym)
    OutboxMessage.objects.create(gym=gym, topic="test.event")
    return lead


@pytest.fixture
def api_client_for(db):
    """api_client_for(user) is an APIClient signed in as that user with a real API token."""
    from rest_framework.test import APIClient

    from accounts.tests.factories import api_token

    def make(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user)}")
        client.user = user
        return client

    return make


@pytest.fixture
def owner(gym):
    return UserFactory(gym=gym, role=RoleFactory(name="owner"), email="owner@gym-a.test")


@pytest.fixture
def api(api_client_for, owner):
    """An API client signed in as gym A's owner."""
    return api_client_for(owner)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """No pool made before the test database exists: it would keep connecting to the development database."""
    from django.db import connections

    for connection in connections.all():
        if hasattr(connection, "close_pool"):
            connection.close_pool()
    # A test database left by a run that stopped half-way is dropped and made again: not while PgBouncer
    # still holds that run's server connections to it.
    end_other_sessions(connections["default"].creation._get_test_db_name())


def end_other_sessions(database):
    """End every session on `database`, so that it can be dropped (DROP DATABASE waits up to 5 s for them to go).

    Behind PgBouncer (make test's second run) its idle server connections stay open after the tests, and a
    live server's pooled ones may too; either makes DROP DATABASE fail ("being accessed by other users").
    """
    import psycopg
    from django.db import connections

    login = connections["default"].settings_dict
    with psycopg.connect(host=login["HOST"], port=login["PORT"] or 5432, user=login["USER"],
                         password=login["PASSWORD"] or None, dbname="postgres", autocommit=True) as connection:
        connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [database])


@pytest.fixture(scope="session", autouse=True)
def tests_use_the_test_database(django_db_setup, django_db_blocker):
    from django.db import connection, connections

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        assert cursor.fetchone()[0] == connection.settings_dict["NAME"]
    yield
    with django_db_blocker.unblock():  # before pytest-django drops the test database (this runs first)
        connections.close_all()
    end_other_sessions(connection.settings_dict["NAME"])
