import datetime

import pytest
from django.utils import timezone

from calls.tests.factories import CallLogFactory, CallTranscriptFactory, CampaignFactory
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def test_log_a_call_and_complete_it(api, gym):
    lead = LeadFactory(gym=gym)

    created = api.post("/api/v1/calls/", {"lead": str(lead.pk), "is_ai_call": False, "notes": "Left a message"},
                       format="json")
    assert created.status_code == 201, created.json()
    url = f"/api/v1/calls/{created.json()['id']}/status/"

    assert api.post(url, {"status": "in_progress"}, format="json").json()["status"] == "in_progress"
    completed = api.post(url, {"status": "completed"}, format="json").json()
    assert completed["status"] == "completed" and completed["end_time"] and completed["duration"] is not None
    refused = api.post(url, {"status": "scheduled"}, format="json")
    assert refused.status_code == 400
    assert "cannot change from completed to scheduled" in refused.json()["errors"]["status"][0]


def test_a_call_detail_has_its_transcript(api, gym):
    transcript = CallTranscriptFactory(call__lead__gym=gym)

    body = api.get(f"/api/v1/calls/{transcript.call_id}/").json()

    assert body["transcript"]["utterances"][0]["role"] == "agent"


def test_status_is_not_writable_directly(api, gym):
    call = CallLogFactory(lead__gym=gym, status="scheduled")

    response = api.patch(f"/api/v1/calls/{call.pk}/", {"status": "completed", "notes": "x"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"status": ["Read-only here: change it with POST /api/v1/calls/{id}/status/."]}
    call.refresh_from_db()
    assert (call.status, call.notes) == ("scheduled", "")


def test_filters_metrics_and_upcoming(api, gym):
    campaign = CampaignFactory(gym=gym)
    lead = LeadFactory(gym=gym)
    done = CallLogFactory(lead=lead, campaign=campaign, status="completed", outcome="voicemail", duration=40,
                          start_time=NOW - datetime.timedelta(hours=1))
    planned = CallLogFactory(lead=lead, status="scheduled", start_time=NOW + datetime.timedelta(hours=1),
                             is_ai_call=False)

    def ids(query):
        response = api.get(f"/api/v1/calls/?{query}")
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids(f"campaign={campaign.pk}") == ids("outcome=voicemail") == ids("is_ai_call=true") == [str(done.pk)]
    assert ids("status=scheduled") == [str(planned.pk)]
    assert ids(f"lead={lead.pk}&ordering=start_time") == [str(done.pk), str(planned.pk)]
    start = (NOW - datetime.timedelta(hours=2)).isoformat().replace("+", "%2B")
    assert ids(f"start_after={start}&start_before={NOW.isoformat().replace('+', '%2B')}") == [str(done.pk)]
    assert api.get("/api/v1/calls/?outcome=maybe").status_code == 400
    assert api.get("/api/v1/calls/upcoming/").json()[0]["id"] == str(planned.pk)
    metrics = api.get("/api/v1/calls/metrics/").json()
    assert metrics["outcomes"]["voicemail"] >= 1 and metrics["avg_duration"] == 40
