import pytest

from gyms.tests.factories import BranchFactory, GymFactory
from leads.models import Lead, LeadQualification
from leads.tests.factories import (
    LeadFactory,
    LeadQualificationFactory,
    LeadTagAssignmentFactory,
    LeadTagFactory,
)
from reps.core.testing import refused_by_database, validation_messages
from reps.tenancy.database import gym_scope

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "entered",
    [
        "+1 (212) 555-0123",
        "212-555-0123",
        "(212) 555 0123",
        "2125550123",
        "1-212-555-0123",
        "+12125550123",
        " 212.555.0123 ",
    ],
)
def test_lead_phone_is_stored_in_e164(gym, entered):
    lead = LeadFactory(gym=gym, phone=entered)

    lead.refresh_from_db()
    assert lead.phone == "+12125550123"


def test_national_numbers_take_the_gyms_country():
    london = GymFactory(country_code="GB", timezone="Europe/London")

    assert LeadFactory(gym=london, phone="020 7946 0958").phone == "+442079460958"
    assert LeadFactory(gym=london, phone="0044 20 7946 0959").phone == "+442079460959"
    # A number with its own country code keeps it.
    assert LeadFactory(gym=london, phone="+1 212 555 0123").phone == "+12125550123"


def test_invalid_phone_is_a_validation_error_with_a_message(gym):
    lead = Lead(gym=gym, first_name="Jo", last_name="Bloggs", phone="555-01")

    assert validation_messages(lead)["phone"] == [
        "555-01 is not a valid phone number for US; enter it with its country code, like +1 415 555 0100."
    ]


def test_database_refuses_a_phone_that_is_not_e164(gym):
    lead = LeadFactory(gym=gym)

    with refused_by_database("lead_phone_e164"):
        Lead.objects.unscoped().filter(pk=lead.pk).update(phone="212-555-0123")


def test_phone_is_unique_within_a_gym_in_whatever_form_it_is_entered(gym):
    LeadFactory(gym=gym, phone="+1 212 555 0123")

    duplicate = Lead(gym=gym, first_name="Jo", last_name="Bloggs", phone="(212) 555-0123")
    assert validation_messages(duplicate) == {"phone": ["This gym already has a lead with this phone number."]}
    with refused_by_database("lead_gym_phone_key"):
        LeadFactory(gym=gym, phone="212.555.0123")


def test_the_same_phone_in_two_gyms_is_two_leads(gym, other_gym):
    LeadFactory(gym=gym, phone="+12125550123")
    LeadFactory(gym=other_gym, phone="+12125550123")

    assert Lead.objects.unscoped().filter(phone="+12125550123").count() == 2


def test_a_lead_cannot_belong_to_another_gyms_branch(gym, other_gym):
    foreign_branch = BranchFactory(gym=other_gym)

    lead = Lead(gym=gym, first_name="Jo", last_name="Bloggs", phone="+12125550123", branch=foreign_branch)
    assert validation_messages(lead)["branch"] == ["This branch belongs to another gym."]
    with refused_by_database("leads_lead_branch_id_same_gym"):
        lead.save()


def test_tags_are_unique_per_gym_whatever_the_case(gym, other_gym):
    LeadTagFactory(gym=gym, name="Hot")
    LeadTagFactory(gym=other_gym, name="hot")

    with refused_by_database("leadtag_gym_name_key"):
        LeadTagFactory(gym=gym, name="HOT")


def test_tag_colour_must_be_hex(gym):
    with refused_by_database("leadtag_color_hex"):
        LeadTagFactory(gym=gym, color="red")


def test_a_lead_has_a_tag_once_and_only_its_own_gyms_tags(gym, other_gym):
    assignment = LeadTagAssignmentFactory(lead__gym=gym)
    lead = assignment.lead

    with gym_scope(gym):
        assert list(lead.tags.all()) == [assignment.tag]
    with refused_by_database("leadtagassignment_lead_tag_key"):
        LeadTagAssignmentFactory(lead=lead, tag=assignment.tag)
    with refused_by_database("leads_leadtagassignment_tag_id_same_gym"):
        LeadTagAssignmentFactory(lead=lead, tag=LeadTagFactory(gym=other_gym))


def test_qualification_score_is_between_0_and_100(gym):
    qualification = LeadQualificationFactory(lead__gym=gym, score=100)

    with refused_by_database("leadqualification_score_range"):
        LeadQualification.objects.unscoped().filter(pk=qualification.pk).update(score=101)
    with refused_by_database("leadqualification_score_check"):
        LeadQualification.objects.unscoped().filter(pk=qualification.pk).update(score=-1)
    qualification.score = 101
    assert validation_messages(qualification)["score"] == ["Ensure this value is less than or equal to 100."]


def test_one_qualification_per_lead(gym):
    qualification = LeadQualificationFactory(lead__gym=gym)

    with refused_by_database("leads_leadqualification_lead_id_key"):
        LeadQualificationFactory(lead=qualification.lead)


def test_engagement_score_is_between_0_and_100(gym):
    lead = LeadFactory(gym=gym)

    assert lead.engagement_score == 0 and lead.last_interaction is None
    with refused_by_database("lead_engagement_score_range"):
        Lead.objects.unscoped().filter(pk=lead.pk).update(engagement_score=101)
