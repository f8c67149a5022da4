import pytest
from django.core.exceptions import ValidationError

from leads.models import Lead, LeadTagAssignment
from leads.services import (
    change_lead_status,
    create_lead,
    delete_lead,
    set_lead_tags,
    update_lead,
)
from leads.tests.factories import LeadFactory, LeadTagFactory
from reps.core.transitions import InvalidTransition

pytestmark = pytest.mark.django_db


def test_create_lead_normalizes_and_refuses_a_duplicate_phone(gym, other_gym):
    lead = create_lead(gym=gym, data={"first_name": "Jo", "last_name": "Lee", "phone": "(212) 555-0100"})

    assert (lead.gym_id, lead.phone, lead.status) == (gym.pk, "+12125550100", "new")
    with pytest.raises(ValidationError) as raised:
        create_lead(gym=gym, data={"first_name": "Al", "last_name": "Bo", "phone": "212 555 0100"})
    assert raised.value.messages == ["This gym already has a lead with this phone number."]
    assert create_lead(gym=other_gym, data={"first_name": "Al", "last_name": "Bo", "phone": "212 555 0100"})


@pytest.mark.parametrize(
    "current, new, allowed",
    [
        ("new", "contacted", True),
        ("contacted", "qualified", True),
        ("qualified", "converted", True),
        ("lost", "contacted", True),
        ("converted", "new", False),
        ("contacted", "new", False),
        ("new", "new", True),
    ],
)
def test_lead_status_follows_the_allowed_transitions(gym, current, new, allowed):
    lead = LeadFactory(gym=gym, status=current)

    if allowed:
        assert change_lead_status(gym=gym, lead_id=lead.pk, status=new).status == new
    else:
        with pytest.raises(InvalidTransition, match=f"cannot change from {current} to {new}"):
            change_lead_status(gym=gym, lead_id=lead.pk, status=new)
        lead.refresh_from_db()
        assert lead.status == current


def test_an_unknown_status_is_a_clear_error(gym):
    lead = LeadFactory(gym=gym)

    with pytest.raises(InvalidTransition, match="'asleep' is not a lead status"):
        update_lead(gym=gym, lead_id=lead.pk, data={"status": "asleep"})


def test_lead_services_never_touch_another_gyms_lead(gym, other_gym):
    theirs = LeadFactory(gym=other_gym, first_name="Theirs")

    assert update_lead(gym=gym, lead_id=theirs.pk, data={"first_name": "Mine"}) is None
    assert change_lead_status(gym=gym, lead_id=theirs.pk, status="lost") is None
    assert delete_lead(gym=gym, lead_id=theirs.pk) is False
    assert set_lead_tags(gym=gym, lead_id=theirs.pk, tag_ids=[]) is None
    theirs.refresh_from_db()
    assert (theirs.first_name, theirs.status) == ("Theirs", "new")


def test_set_lead_tags_replaces_them_with_the_gyms_own_tags(gym, other_gym):
    lead = LeadFactory(gym=gym)
    old, kept, new = LeadTagFactory(gym=gym), LeadTagFactory(gym=gym), LeadTagFactory(gym=gym)
    set_lead_tags(gym=gym, lead_id=lead.pk, tag_ids=[old.pk, kept.pk])

    set_lead_tags(gym=gym, lead_id=lead.pk, tag_ids=[kept.pk, new.pk])

    assert set(LeadTagAssignment.objects.for_gym(gym).values_list("tag", flat=True)) == {kept.pk, new.pk}
    with pytest.raises(ValidationError, match="do not exist in this gym"):
        set_lead_tags(gym=gym, lead_id=lead.pk, tag_ids=[LeadTagFactory(gym=other_gym).pk])
    assert LeadTagAssignment.objects.for_gym(gym).count() == 2


def test_delete_lead_removes_it(gym):
    lead = LeadFactory(gym=gym)

    assert delete_lead(gym=gym, lead_id=lead.pk) is True
    assert not Lead.objects.for_gym(gym).exists()
