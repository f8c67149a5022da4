import datetime

import pytest
from django.core.exceptions import ValidationError

from accounts.models import User, UserProfile
from accounts.tests.factories import UserFactory
from appointments.models import Appointment
from appointments.tests.factories import AppointmentFactory
from calls.models import CallLog, CallTranscript, Campaign
from gyms.models import (
    AISettings,
    Branch,
    Gym,
    GymSettings,
    KnowledgeBaseEntry,
    VoiceSettings,
)
from gyms.services import create_gym
from gyms.tests.factories import BranchFactory
from leads.models import Lead, LeadQualification, LeadTag, LeadTagAssignment
from leads.tests.factories import LeadFactory
from reps.core.testing import refused_by_database, validation_messages

pytestmark = pytest.mark.django_db


def test_create_gym_creates_all_its_settings_with_defaults():
    gym = create_gym(name="Flex", timezone="Europe/London", country_code="GB", phone="020 7946 0958")

    assert gym.phone == "+442079460958"
    assert gym.settings.default_appointment_minutes == 60
    assert gym.settings.calling_hours_start == datetime.time(9)
    assert gym.settings.calling_hours_end == datetime.time(20)
    assert gym.ai_settings.is_enabled
    assert gym.voice_settings.language == "en-US"


def test_gym_rejects_unknown_timezone_and_country_with_messages():
    errors = validation_messages(Gym(name="X", timezone="Mars/Olympus", country_code="ZZ"))

    assert "Mars/Olympus is not an IANA time zone name" in errors["timezone"][0]
    assert "ZZ is not a two-letter country code" in errors["country_code"][0]


def test_database_refuses_a_malformed_country_code(gym):
    with refused_by_database("gym_country_code_iso"):
        Gym.objects.filter(pk=gym.pk).update(country_code="us")


def test_gym_settings_calling_hours_must_start_before_they_end(gym):
    settings = gym.settings
    settings.calling_hours_start = datetime.time(18)
    settings.calling_hours_end = datetime.time(9)

    assert validation_messages(settings)["__all__"] == ["Calling hours must start before they end."]
    with refused_by_database("gymsettings_calling_hours_order"):
        settings.save()


def test_gym_settings_appointment_length_is_bounded(gym):
    with refused_by_database("gymsettings_appointment_minutes_range"):
        GymSettings.objects.unscoped().filter(gym=gym).update(default_appointment_minutes=0)


def test_ai_and_voice_settings_ranges(gym):
    with refused_by_database("aisettings_max_call_minutes_range"):
        AISettings.objects.unscoped().filter(gym=gym).update(max_call_minutes=0)
    with refused_by_database("voicesettings_speaking_rate_range"):
        VoiceSettings.objects.unscoped().filter(gym=gym).update(speaking_rate=3)
    voice = gym.voice_settings
    voice.speaking_rate = 3
    assert "speaking_rate" in validation_messages(voice)


def test_one_settings_row_per_gym(gym):
    with refused_by_database("gymsettings_gym_id_key"):
        GymSettings.objects.create(gym=gym)


def test_branch_phone_is_stored_in_e164_with_the_gyms_country(gym):
    branch = BranchFactory(gym=gym, phone="(212) 555-0147")

    assert branch.phone == "+12125550147"


def test_deleting_a_gym_removes_every_row_it_owns(gym, other_gym, add_one_of_everything):
    add_one_of_everything(gym)
    add_one_of_everything(other_gym)
    owned = [
        Branch,
        GymSettings,
        AISettings,
        VoiceSettings,
        KnowledgeBaseEntry,
        Lead,
        LeadTag,
        LeadTagAssignment,
        LeadQualification,
        Campaign,
        CallLog,
        CallTranscript,
        Appointment,
    ]

    gym.delete()

    for model in owned:
        assert not model.objects.unscoped().filter(gym_id=gym.pk).exists(), model.__name__
        assert model.objects.unscoped().filter(gym_id=other_gym.pk).count() == 1, model.__name__
    assert not User.objects.filter(gym_id=gym.pk).exists()
    assert User.objects.filter(gym_id=other_gym.pk).count() == 1


def test_deleting_a_branch_keeps_its_leads_and_appointments_without_a_branch(gym):
    branch = BranchFactory(gym=gym)
    lead = LeadFactory(gym=gym, branch=branch)
    appointment = AppointmentFactory(lead=lead, branch=branch)

    branch.delete()

    lead.refresh_from_db()
    appointment.refresh_from_db()
    assert lead.branch_id is None
    assert appointment.branch_id is None


def test_gym_validation_error_for_bad_phone_names_the_field():
    gym = Gym(name="X", country_code="US", phone="12")

    with pytest.raises(ValidationError) as raised:
        gym.full_clean()
    assert "12 is not a valid phone number for US" in raised.value.message_dict["phone"][0]


def test_max_call_attempts_is_at_least_one(gym):
    with refused_by_database("gymsettings_max_call_attempts_positive"):
        GymSettings.objects.unscoped().filter(gym=gym).update(max_call_attempts=0)


def test_database_refuses_phones_that_are_not_e164_in_every_phone_column(gym):
    branch = BranchFactory(gym=gym)
    profile = UserProfile.objects.create(user=UserFactory(gym=gym))

    with refused_by_database("gym_phone_e164"):
        Gym.objects.filter(pk=gym.pk).update(phone="212 555 0100")
    with refused_by_database("branch_phone_e164"):
        Branch.objects.unscoped().filter(pk=branch.pk).update(phone="(212) 555-0100")
    with refused_by_database("userprofile_phone_e164"):
        UserProfile.objects.filter(pk=profile.pk).update(phone="555")


def test_the_no_show_grace_is_at_most_a_day_and_set_through_the_gym(gym, api):
    with refused_by_database("gymsettings_no_show_grace_range"):
        GymSettings.objects.unscoped().filter(gym=gym).update(no_show_grace_minutes=1441)

    too_long = api.patch("/api/v1/gym/", {"settings": {"no_show_grace_minutes": 1441}}, format="json")
    changed = api.patch("/api/v1/gym/", {"settings": {"no_show_grace_minutes": 90}}, format="json")

    assert too_long.status_code == 400 and "no_show_grace_minutes" in str(too_long.json()["errors"])
    assert changed.status_code == 200 and changed.json()["settings"]["no_show_grace_minutes"] == 90
    assert GymSettings.objects.unscoped().get(gym=gym).no_show_grace_minutes == 90
