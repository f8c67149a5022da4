import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gyms.models import Gym
from leads.analytics import lead_dashboard
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_dashboard_of_an_empty_gym_has_every_status_and_thirty_zero_days(gym):
    dashboard = lead_dashboard(gym)

    assert dashboard["lead_counts"] == {"new": 0, "contacted": 0, "qualified": 0, "converted": 0, "lost": 0}
    assert len(dashboard["daily_leads"]) == 30
    assert all(day["count"] == 0 for day in dashboard["daily_leads"])
    assert dashboard["conversion_rates"] == []


def test_dashboard_counts_in_one_round_trip_with_bound_parameters(gym, other_gym):
    now = timezone.now()
    for _ in range(11):
        LeadFactory(gym=gym, source="website", status="converted")
    LeadFactory(gym=gym, source="website", status="new")
    for _ in range(5):
        LeadFactory(gym=gym, source="referral", status="converted")  # too few to rate
    LeadFactory(gym=gym, status="lost", created_at=now - datetime.timedelta(days=45))  # outside the 30 days
    for _ in range(20):
        LeadFactory(gym=other_gym, source="website", status="new")

    with CaptureQueriesContext(connection) as queries:
        dashboard = lead_dashboard(gym.pk)

    assert len(queries) == 1
    assert dashboard["lead_counts"] == {"new": 1, "contacted": 0, "qualified": 0, "converted": 16, "lost": 1}
    assert dashboard["conversion_rates"] == [{"source": "website", "total": 12, "converted": 11, "rate": 91.67}]
    days = dashboard["daily_leads"]
    assert len(days) == 30 and days == sorted(days, key=lambda day: day["date"])
    assert sum(day["count"] for day in days) == 17


def test_dashboard_days_are_the_gyms_local_days(gym):
    Gym.objects.filter(pk=gym.pk).update(timezone="Pacific/Kiritimati")  # UTC+14
    LeadFactory(gym=gym)

    days = lead_dashboard(gym)["daily_leads"]
    kiritimati_today = (timezone.now() + datetime.timedelta(hours=14)).date().isoformat()

    assert days[-1] == {"date": kiritimati_today, "count": 1}


def test_dashboard_takes_only_a_real_gym_id(gym):
    LeadFactory(gym=gym)

    with pytest.raises(ValueError):
        lead_dashboard("x'; DELETE FROM leads_lead; --")
    assert lead_dashboard(str(gym.pk))["lead_counts"]["new"] == 1
