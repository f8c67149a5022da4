import datetime

import pytest
from django.utils import timezone

from calls.models import CallLog, CallTranscript
from calls.tests.factories import CallLogFactory, CallTranscriptFactory, CampaignFactory
from leads.tests.factories import LeadFactory
from reps.core.testing import refused_by_database, validation_messages

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def test_a_call_cannot_end_before_it_starts(gym):
    call = CallLogFactory(lead__gym=gym, start_time=NOW)

    call.end_time = NOW - datetime.timedelta(seconds=1)
    assert validation_messages(call)["__all__"] == ["A call cannot end before it starts."]
    with refused_by_database("calllog_end_after_start"):
        call.save()


def test_duration_cannot_be_negative(gym):
    call = CallLogFactory(lead__gym=gym)

    with refused_by_database("calllog_duration_check"):
        CallLog.objects.unscoped().filter(pk=call.pk).update(duration=-5)


def test_a_voice_platform_call_id_is_one_call(gym, other_gym):
    CallLogFactory(lead__gym=gym, retell_call_id="call_abc")
    CallLogFactory(lead__gym=gym, retell_call_id=None)
    CallLogFactory(lead__gym=gym, retell_call_id=None)  # many calls without an id are fine

    with refused_by_database("calllog_retell_call_id_key"):
        CallLogFactory(lead__gym=other_gym, retell_call_id="call_abc")


def test_campaign_cannot_end_before_it_starts(gym):
    campaign = CampaignFactory(gym=gym, starts_on=datetime.date(2026, 1, 10))

    campaign.ends_on = datetime.date(2026, 1, 9)
    assert validation_messages(campaign)["__all__"] == ["A campaign cannot end before it starts."]
    with refused_by_database("campaign_dates_order"):
        campaign.save()


def test_a_call_belongs_to_its_leads_gym_and_campaign_gym(gym, other_gym):
    foreign_lead = LeadFactory(gym=other_gym)
    with refused_by_database("calls_calllog_lead_id_same_gym"):
        CallLog.objects.create(gym=gym, lead=foreign_lead)

    call = CallLog(gym=gym, lead=LeadFactory(gym=gym), campaign=CampaignFactory(gym=other_gym))
    assert validation_messages(call)["campaign"] == ["This campaign belongs to another gym."]
    with refused_by_database("calls_calllog_campaign_id_same_gym"):
        call.save()


def test_transcript_is_one_per_call_and_deleted_with_it(gym):
    transcript = CallTranscriptFactory(call__lead__gym=gym)

    with refused_by_database("calls_calltranscript_call_id_key"):
        CallTranscriptFactory(call=transcript.call)
    transcript.call.delete()
    assert not CallTranscript.objects.unscoped().filter(pk=transcript.pk).exists()


def test_deleting_a_lead_deletes_its_calls_and_deleting_a_campaign_keeps_them(gym):
    campaign = CampaignFactory(gym=gym)
    kept = CallLogFactory(lead__gym=gym, campaign=campaign)
    gone = CallLogFactory(lead__gym=gym)

    campaign.delete()
    gone.lead.delete()

    kept.refresh_from_db()
    assert kept.campaign_id is None
    assert not CallLog.objects.unscoped().filter(pk=gone.pk).exists()
