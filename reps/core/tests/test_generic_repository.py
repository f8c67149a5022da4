"""get_by_id and the seed's generic list(), on every tenant model."""

import re
import uuid

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gyms.tests.factories import BranchFactory
from leads.models import Lead
from leads.tests.factories import LeadFactory
from reps.core.models import TenantModel
from reps.tenancy.queryset import InvalidQuery

pytestmark = pytest.mark.django_db

TENANT_MODELS = sorted(
    (model for model in apps.get_models() if issubclass(model, TenantModel)), key=lambda m: m._meta.label
)


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda model: model._meta.label)
def test_every_tenant_model_reads_only_its_gyms_rows(model, gym, other_gym, add_one_of_everything):
    add_one_of_everything(gym)
    add_one_of_everything(other_gym)
    mine = model.objects.unscoped().filter(gym=gym).first()
    theirs = model.objects.unscoped().filter(gym=other_gym).first()

    assert model.objects.for_gym(gym).get_by_id(mine.pk) == mine
    assert model.objects.for_gym(gym).get_by_id(theirs.pk) is None
    assert model.objects.for_gym(gym).get_by_id(str(mine.pk)) == mine
    assert {row.gym_id for row in model.objects.for_gym(gym).list()} == {gym.pk}


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "", None, 42, "123e4567-e89b-12d3-a456-42661417400"])
def test_get_by_id_of_a_malformed_id_is_none(gym, bad_id):
    LeadFactory(gym=gym)

    assert Lead.objects.for_gym(gym).get_by_id(bad_id) is None


def test_get_by_id_of_an_unknown_id_is_none(gym):
    assert Lead.objects.for_gym(gym).get_by_id(uuid.uuid4()) is None


def test_list_filters_sorts_and_pages(gym, other_gym):
    leads = [
        LeadFactory(gym=gym, first_name=name, status=status)
        for name, status in [("Cy", "new"), ("Al", "lost"), ("Bo", "new"), ("Di", "qualified")]
    ]
    LeadFactory(gym=other_gym, first_name="Aa", status="new")
    repo = Lead.objects.for_gym(gym)

    assert [lead.first_name for lead in repo.list(sort_by="first_name")] == ["Al", "Bo", "Cy", "Di"]
    assert [lead.first_name for lead in repo.list(sort_by="first_name", sort_dir="desc", skip=1, limit=2)] == ["Cy", "Bo"]
    assert {lead.first_name for lead in repo.list(filters={"status": "new"})} == {"Cy", "Bo"}
    # A list value means IN.
    assert {lead.first_name for lead in repo.list(filters={"status": ["new", "qualified"]})} == {"Cy", "Bo", "Di"}
    assert [lead.first_name for lead in repo.list(filters={"id": [leads[1].pk]})] == ["Al"]


def test_list_filters_by_a_relation_by_id(gym):
    branch = BranchFactory(gym=gym)
    on_branch = LeadFactory(gym=gym, branch=branch)
    LeadFactory(gym=gym)

    assert list(Lead.objects.for_gym(gym).list(filters={"branch": branch.pk})) == [on_branch]
    assert list(Lead.objects.for_gym(gym).list(filters={"branch_id": [branch.pk]})) == [on_branch]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": {"favourite_colour": "red"}}, "Cannot filter Lead by 'favourite_colour'"),
        ({"filters": {"tags": "x"}}, "Cannot filter Lead by 'tags'"),
        ({"sort_by": "nonsense"}, "Cannot sort Lead by 'nonsense'"),
        ({"sort_by": "first_name", "sort_dir": "sideways"}, "sort_dir must be 'asc' or 'desc'"),
        ({"filters": {"status": "asleep"}}, "'asleep' is not a valid status"),
        ({"filters": {"branch": "not-a-uuid"}}, "Invalid value for filter 'branch'"),
        ({"filters": {"engagement_score": "lots"}}, "Invalid value for filter 'engagement_score'"),
        ({"skip": -1}, "cannot be negative"),
    ],
)
def test_list_refuses_what_the_seed_silently_ignored(gym, kwargs, message):
    with pytest.raises(ValueError, match=message) as raised:
        Lead.objects.for_gym(gym).list(**kwargs)
    assert isinstance(raised.value, InvalidQuery)


def test_list_limit_is_capped_by_a_setting(gym, settings):
    settings.REPOSITORY_MAX_LIMIT = 3
    for _ in range(5):
        LeadFactory(gym=gym)

    assert len(Lead.objects.for_gym(gym).list(limit=1000)) == 3
    assert len(Lead.objects.for_gym(gym).list(limit=2)) == 2


def test_list_pages_do_not_overlap_when_sort_values_tie(gym):
    for _ in range(6):
        LeadFactory(gym=gym, status="new")
    repo = Lead.objects.for_gym(gym)

    pages = [list(repo.list(sort_by="status", skip=skip, limit=2)) for skip in (0, 2, 4)]

    assert len({lead.pk for page in pages for lead in page}) == 6


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda model: model._meta.label)
def test_list_in_the_models_own_order_breaks_its_ties_by_the_primary_key(gym, model, add_one_of_everything):
    for _ in range(3):
        add_one_of_everything(gym)
    rows = model.objects.for_gym(gym)

    with CaptureQueriesContext(connection) as queries:
        paged = [row.pk for skip in range(0, 12, 2) for row in rows.list(skip=skip, limit=2)]

    # PostgreSQL returns tied rows in any order, which may differ from one page's query to the next.
    pk = f'"{model._meta.db_table}"."{model._meta.pk.column}"'
    assert all(re.search(rf"ORDER BY .*{re.escape(pk)}( ASC| DESC)? LIMIT", query["sql"]) for query in queries
               if "LIMIT" in query["sql"])
    assert sorted(map(str, paged)) == sorted(str(pk) for pk in rows.values_list("pk", flat=True))
