"""The safety net: tenant queries need a gym; unscoped() and all_gyms() are the named ways around it."""

import uuid

import pytest
from django.db.models import Count
from django.urls import reverse

from leads.models import Lead
from leads.tests.factories import LeadFactory
from reps.tenancy.database import gym_scope
from reps.tenancy.state import ScopeError, all_gyms, current_gym_id

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "run",
    [
        lambda: list(Lead.objects.all()),
        lambda: Lead.objects.filter(first_name="x").first(),
        lambda: Lead.objects.get(phone="+12125550100"),
        lambda: Lead.objects.count(),
        lambda: Lead.objects.exists(),
        lambda: Lead.objects.aggregate(n=Count("id")),
        lambda: list(Lead.objects.values_list("phone", flat=True)),
        lambda: list(Lead.objects.iterator()),
        lambda: Lead.objects.update(notes="x"),
        lambda: Lead.objects.filter(first_name="x").delete(),
        lambda: list(Lead.objects.for_gym(uuid.uuid4()).filter(pk__in=Lead.objects.values("pk"))),
    ],
    ids=["list", "first", "get", "count", "exists", "aggregate", "values", "iterator", "update", "delete", "subquery"],
)
def test_running_a_query_with_no_gym_raises(gym, run):
    LeadFactory(gym=gym, phone="+12125550100", notes="")

    with pytest.raises(ScopeError, match="Lead was queried with no current gym"):
        run()
    assert Lead.objects.for_gym(gym).get().notes == ""


def test_building_a_query_is_harmless_and_for_gym_anywhere_in_the_chain_scopes_it(gym, other_gym):
    mine = LeadFactory(gym=gym, status="new")
    LeadFactory(gym=other_gym, status="new")

    pending = Lead.objects.filter(status="new")  # built, not run

    assert list(pending.for_gym(gym)) == [mine]


def test_for_gym_and_unscoped_are_the_explicit_ways_in(gym, other_gym):
    mine, theirs = LeadFactory(gym=gym), LeadFactory(gym=other_gym)

    assert list(Lead.objects.for_gym(gym)) == [mine]
    assert set(Lead.objects.unscoped()) == {mine, theirs}


def test_inside_a_gyms_scope_queries_see_only_that_gym(gym, other_gym):
    mine, theirs = LeadFactory(gym=gym), LeadFactory(gym=other_gym)

    with gym_scope(gym):
        assert list(Lead.objects.all()) == [mine]
        assert Lead.objects.filter(pk=theirs.pk).count() == 0
        # Even a deliberate for_gym(other) finds nothing of the other gym.
        assert not Lead.objects.for_gym(other_gym).exists()
        assert list(Lead.objects.for_gym(gym)) == [mine]
    assert current_gym_id() is None


def test_related_managers_are_scoped_too(gym, other_gym, add_one_of_everything):
    lead = add_one_of_everything(gym)

    with gym_scope(gym):
        assert lead.calls.count() == 1
    with gym_scope(other_gym):
        assert lead.calls.count() == 0
    with pytest.raises(ScopeError):
        lead.calls.count()


def test_all_gyms_is_for_platform_code(gym, other_gym):
    LeadFactory(gym=gym)
    LeadFactory(gym=other_gym)

    with all_gyms():
        assert Lead.objects.count() == 2


def test_scopes_nest_and_restore(gym, other_gym):
    with gym_scope(gym):
        with gym_scope(other_gym):
            assert current_gym_id() == other_gym.pk
        assert current_gym_id() == gym.pk
    assert current_gym_id() is None


def test_the_admin_sees_every_gym(client, superuser, gym, other_gym):
    LeadFactory(gym=gym)
    LeadFactory(gym=other_gym)
    client.force_login(superuser)

    page = client.get(reverse("admin:leads_lead_changelist"))

    assert page.context["cl"].result_count == 2
