"""The platform admin's call pages: calls named for people, times on the gym's clock, the API's status rules
and lead search."""

import datetime
import re

import pytest
from django.urls import reverse

from calls.models import CallLog
from calls.tests.factories import CallLogFactory, CallTranscriptFactory
from gyms.tests.factories import GymFactory
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

MOMENT = datetime.datetime(2026, 1, 15, 3, 30, tzinfo=datetime.UTC)  # 22:30 the evening before in New York


@pytest.fixture
def new_york():
    return GymFactory(timezone="America/New_York")


@pytest.fixture
def jane(new_york):
    return LeadFactory(gym=new_york, first_name="Jane", last_name="Doe", phone="+12125551299")


def test_a_call_is_named_for_its_lead_and_its_start_on_the_gyms_clock(jane, django_assert_num_queries):
    call = CallLogFactory(lead=jane, start_time=MOMENT, status="completed")
    loaded = CallLog.objects.unscoped().select_related("lead", "gym").get(pk=call.pk)

    with django_assert_num_queries(0):
        name = str(loaded)

    assert name == "Call to Jane Doe at 2026-01-14 22:30 EST (Completed)"
    assert str(call.pk) not in name and str(jane.pk) not in name


def test_a_call_without_its_gym_loaded_says_its_time_is_utc(jane):
    call = CallLogFactory(lead=jane, start_time=MOMENT, direction="inbound")

    assert str(CallLog.objects.unscoped().select_related("lead").get(pk=call.pk)) == (
        "Call from Jane Doe at 2026-01-15 03:30 UTC (Scheduled)")


def test_a_call_to_a_lead_without_a_name_names_the_phone(new_york):
    call = CallLogFactory(lead=LeadFactory(gym=new_york, first_name="", last_name="", phone="+12125550123"))

    assert str(call) == "Call to +12125550123 (Scheduled)"


def test_the_call_list_shows_start_times_on_each_gyms_clock(admin_client, jane):
    CallLogFactory(lead=jane, start_time=MOMENT)

    page = admin_client.get(reverse("admin:calls_calllog_changelist")).content.decode()

    assert "2026-01-14 22:30 EST" in page


def test_the_transcript_list_names_each_call(admin_client, jane):
    transcript = CallTranscriptFactory(call__lead=jane, call__start_time=MOMENT)

    response = admin_client.get(reverse("admin:calls_calltranscript_changelist"))

    assert "Call to Jane Doe at 2026-01-14 22:30 EST (Scheduled)" in response.content.decode()
    assert str(transcript) == "Transcript: Call to Jane Doe at 2026-01-14 22:30 EST (Scheduled)"


def test_the_call_list_finds_a_leads_phone_fragment_in_any_format(admin_client, jane, new_york):
    wanted = CallLogFactory(lead=jane)
    CallLogFactory(lead=LeadFactory(gym=new_york, phone="+12125550100"))

    for term in ("555-1299", "(212) 555-1299", "Jane Doe"):
        response = admin_client.get(reverse("admin:calls_calllog_changelist"), {"q": term})
        assert [call.pk for call in response.context["cl"].result_list] == [wanted.pk], term


def status_options(response):
    select = re.search(r'<select name="status"[^>]*>(.*?)</select>', response.content.decode(), re.S).group(1)
    return re.findall(r'<option value="([^"]*)"', select)


def change_call(client, call, status):
    data = {"gym": call.gym_id, "lead": call.lead_id, "status": status, "direction": call.direction,
            "analysis": "{}", "counts_as_attempt": "on", "transcript-TOTAL_FORMS": 0, "transcript-INITIAL_FORMS": 0}
    return client.post(reverse("admin:calls_calllog_change", args=[call.pk]), data)


def test_a_completed_call_stays_completed(admin_client, jane):
    call = CallLogFactory(lead=jane, status="completed")

    assert status_options(admin_client.get(reverse("admin:calls_calllog_change", args=[call.pk]))) == ["completed"]
    refused = change_call(admin_client, call, "scheduled")

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["status"] == [
        "The call status cannot change from completed to scheduled; from completed it can become nothing."]
    call.refresh_from_db()
    assert call.status == "completed"


def test_a_failed_call_may_be_scheduled_again(admin_client, jane):
    call = CallLogFactory(lead=jane, status="failed")

    assert status_options(admin_client.get(reverse("admin:calls_calllog_change", args=[call.pk]))) == [
        "scheduled", "failed"]
    response = change_call(admin_client, call, "scheduled")

    assert response.status_code == 302, response.context["adminform"].form.errors
    call.refresh_from_db()
    assert call.status == "scheduled"
