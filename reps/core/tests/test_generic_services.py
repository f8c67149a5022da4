"""The seed's create/update/delete as services that keep to the gym they are given."""

import pytest
from django.core.exceptions import ValidationError

from gyms.models import Branch
from gyms.tests.factories import BranchFactory
from leads.models import Lead
from leads.tests.factories import LeadFactory
from reps.tenancy import services

pytestmark = pytest.mark.django_db


def test_create_takes_the_gym_from_its_argument_never_from_the_data(gym, other_gym):
    lead = services.create(
        Lead,
        gym=gym,
        data={
            "gym": other_gym,
            "gym_id": other_gym.pk,
            "first_name": "Jo",
            "last_name": "Lee",
            "phone": "212 555 0100",
        },
    )

    assert lead.gym_id == gym.pk
    assert lead.phone == "+12125550100"
    assert Lead.objects.for_gym(other_gym).count() == 0


def test_create_validates_and_refuses_unknown_fields(gym):
    with pytest.raises(ValidationError) as raised:
        services.create(Lead, gym=gym, data={"first_name": "Jo", "phone": "nope", "shoe_size": 9})

    errors = raised.value.message_dict
    assert errors == {"shoe_size": ["Unknown field."]}
    with pytest.raises(ValidationError) as raised:
        services.create(Lead, gym=gym, data={"first_name": "Jo", "phone": "nope"})
    assert set(raised.value.message_dict) == {"last_name", "phone"}
    assert not Lead.objects.for_gym(gym).exists()


def test_create_refuses_a_reference_to_another_gyms_row(gym, other_gym):
    foreign_branch = BranchFactory(gym=other_gym)

    with pytest.raises(ValidationError) as raised:
        services.create(
            Lead,
            gym=gym,
            data={"first_name": "Jo", "last_name": "Lee", "phone": "+12125550100", "branch_id": foreign_branch.pk},
        )
    assert raised.value.message_dict == {"branch": ["This branch belongs to another gym."]}


def test_update_changes_only_the_gyms_own_row(gym, other_gym):
    mine, theirs = LeadFactory(gym=gym), LeadFactory(gym=other_gym, first_name="Theirs")

    assert services.update(Lead, gym=gym, object_id=theirs.pk, data={"first_name": "Hacked"}) is None
    updated = services.update(Lead, gym=gym, object_id=mine.pk, data={"first_name": "New", "gym": other_gym})

    theirs.refresh_from_db()
    assert theirs.first_name == "Theirs"
    assert (updated.first_name, updated.gym_id) == ("New", gym.pk)


def test_delete_deletes_only_the_gyms_own_row(gym, other_gym):
    mine, theirs = BranchFactory(gym=gym), BranchFactory(gym=other_gym)

    assert services.delete(Branch, gym=gym, object_id=theirs.pk) is False
    assert services.delete(Branch, gym=gym, object_id="garbage") is False
    assert services.delete(Branch, gym=gym, object_id=mine.pk) is True
    assert list(Branch.objects.unscoped()) == [theirs]


def test_a_write_is_checked_by_the_database_in_its_own_statement_and_a_refusal_is_the_fields_error(gym):
    """No query per constraint before the write: the database refuses the row, and the service says why."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    LeadFactory(gym=gym, phone="+12125550100")
    data = {"first_name": "Jo", "last_name": "Lee", "phone": "+12125550101"}

    with CaptureQueriesContext(connection) as queries:
        services.create(Lead, gym=gym, data=data)
    with pytest.raises(ValidationError) as duplicate:
        services.create(Lead, gym=gym, data={**data, "phone": "+1 212 555 0100"})

    # Besides the savepoints and the service's setting and putting back of the gym, one statement.
    statements = [q["sql"] for q in queries.captured_queries
                  if "SAVEPOINT" not in q["sql"] and "set_config(" not in q["sql"]]
    assert [sql.split()[0] for sql in statements] == ["INSERT"], statements
    assert list(duplicate.value.message_dict) == ["phone"]
    assert Lead.objects.for_gym(gym).count() == 2  # the refusal left the transaction usable


def test_every_reference_between_gym_rows_is_a_same_gym_key_the_database_checks_at_once(db):
    """The generic services leave the same-gym check to the database: it must have one for every reference."""
    from django.apps import apps
    from django.db import connection

    from reps.core.models import TenantModel

    expected = set()
    for model in apps.get_models():
        if not issubclass(model, TenantModel):
            continue
        for field in model._meta.concrete_fields:
            owned = field.is_relation and field.name != "gym" and any(
                f.name == "gym" for f in field.related_model._meta.concrete_fields)
            if owned:
                expected.add(f"{model._meta.db_table}_{field.column}_same_gym"[:63])
    with connection.cursor() as cursor:
        cursor.execute("SELECT conname FROM pg_constraint WHERE contype = 'f' AND NOT condeferrable")
        immediate = {row[0] for row in cursor.fetchall()}

    assert len(expected) >= 8
    assert expected <= immediate, sorted(expected - immediate)


def test_another_gyms_row_is_refused_on_its_field_by_the_database(gym, other_gym):
    lead = LeadFactory(gym=gym)
    elsewhere = BranchFactory(gym=other_gym)

    with pytest.raises(ValidationError) as raised:
        services.update(Lead, gym=gym, object_id=lead.pk, data={"branch_id": elsewhere.pk})

    assert raised.value.message_dict == {"branch": ["This branch belongs to another gym."]}
