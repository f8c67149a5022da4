"""Malformed input is a 400 in the error shape with a short log line, never a 500 with a traceback."""

import logging

import pytest

from appointments.models import Appointment
from leads.tests.factories import LeadFactory
from reps.core.parsers import MAX_JSON_DEPTH, json_depth

pytestmark = pytest.mark.django_db


def nested(depth):
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 500, 5000, 100_000])
def test_json_nested_too_deeply_is_a_400_for_the_api_and_the_unsigned_webhook(api, client, depth, caplog):
    body = '{"first_name": ' + nested(depth) + "}"

    with caplog.at_level(logging.INFO):
        answers = [api.post("/api/v1/leads/", body, content_type="application/json"),
                   client.post("/api/v1/webhooks/voice/retell/", '{"event": "call_ended", "call": ' + nested(depth)
                               + "}", content_type="application/json")]

    for response in answers:
        assert response.status_code == 400
        assert response.json()["code"] == "parse_error"
        assert f"at most {MAX_JSON_DEPTH} levels" in response.json()["detail"]
    assert all(record.exc_info is None and len(record.getMessage()) < 300 for record in caplog.records)


def test_json_within_the_limit_is_read(api):
    response = api.post("/api/v1/leads/", '{"first_name": ' + nested(MAX_JSON_DEPTH - 1) + "}",
                        content_type="application/json")

    assert response.status_code == 400  # a list is no name; but the body was read and the field named
    assert "first_name" in response.json()["errors"]


def test_json_depth_counts_without_recursing():
    assert json_depth(1) == 0
    assert json_depth({"a": [1, {"b": []}]}) == 4
    deep: list = []
    for _ in range(19_999):
        deep = [deep]
    assert json_depth(deep) == 20_000


@pytest.mark.parametrize("body", ["{", "NaN", '{"a": Infinity}', "\xff\xfe"])
def test_a_body_that_is_no_json_is_a_400(api, body):
    response = api.post("/api/v1/leads/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


# --- found by the outsider's check ----------------------------------------------------------------


@pytest.mark.parametrize("moment, problem", [
    ("9999-12-31T23:59:59", "from 1900 to 2999"),  # past year 9999 in UTC: was a 500
    ("9999-12-31T23:30:00Z", "from 1900 to 2999"),  # its default end was past 9999: a row nobody could read
    ("0001-01-01T00:00:00", "from 1900 to 2999"),
    ("2027-03-14T02:30:00", "does not exist in America/New_York"),  # the clocks skip it
    ("2027-11-07T01:30:00", "happens twice in America/New_York"),  # the clocks pass it twice
])
def test_a_moment_out_of_range_or_not_on_the_gyms_clock_is_a_400_naming_its_field(api, gym, moment, problem):
    lead = LeadFactory(gym=gym)

    answers = {
        "scheduled_time": api.post("/api/v1/appointments/", {"lead": str(lead.pk), "title": "Tour", "staff": None,
                                                             "scheduled_time": moment}, format="json"),
        "end_time": api.post("/api/v1/calls/", {"lead": str(lead.pk), "end_time": moment}, format="json"),
        "start_time": api.post("/api/v1/calls/", {"lead": str(lead.pk), "start_time": moment}, format="json"),
    }

    for field, response in answers.items():
        assert response.status_code == 400, (field, response.content)
        assert problem in response.json()["errors"][field][0]
    assert not Appointment.objects.for_gym(gym).exists()


def test_an_appointment_lasts_its_length_in_real_time_across_a_clock_change(api, gym):
    lead = LeadFactory(gym=gym)

    # The night the clocks go back in New York, an hour-long appointment from 01:30 (the first one).
    booked = api.post("/api/v1/appointments/", {"lead": str(lead.pk), "title": "Tour", "staff": None,
                                                "scheduled_time": "2027-11-07T01:30:00-04:00"}, format="json")
    spring = api.post("/api/v1/appointments/", {"lead": str(lead.pk), "title": "Tour", "staff": None,
                                                "scheduled_time": "2027-03-14T01:30:00"}, format="json")

    assert booked.status_code == 201, booked.json()
    assert booked.json()["end_time"] == "2027-11-07T01:30:00-05:00"  # one hour later, after the clocks went back
    assert spring.status_code == 201, spring.json()
    assert spring.json()["end_time"] == "2027-03-14T03:30:00-04:00"  # 02:30 does not exist that night
    assert api.get(f"/api/v1/appointments/{spring.json()['id']}/").json() == spring.json()


@pytest.mark.parametrize("query, name", [
    ("ordering=--created_at", "ordering"), ("ordering=---status&pagination=cursor", "ordering"),
    ("page=abc", "page"), ("page=0", "page"), ("page=-1", "page"), ("format=xml", "format"),
    ("ordering=first_name&ordering=last_name", "ordering"), ("page_size=5&page_size=6", "page_size"),
])
def test_malformed_list_parameters_are_400s_naming_them(api, gym, query, name):
    LeadFactory(gym=gym)

    response = api.get(f"/api/v1/leads/?{query}")

    assert response.status_code == 400, response.content
    assert name in response.json()["errors"]


def test_a_filter_of_several_values_may_repeat_and_a_page_past_the_end_is_a_404(api, gym):
    LeadFactory(gym=gym, status="new")
    LeadFactory(gym=gym, status="lost")

    assert api.get("/api/v1/leads/?status=new&status=lost").json()["count"] == 2
    assert api.get("/api/v1/leads/?page=99").status_code == 404


@pytest.mark.parametrize("query", ["start=2026-11-01&start=2026-10-01", "start=20261101", "end=2026-W44"])
def test_stats_dates_are_given_once_as_yyyy_mm_dd(api, query):
    response = api.get(f"/api/v1/leads/stats/?{query}")

    assert response.status_code == 400
    assert list(response.json()["errors"]) in (["start"], ["end"])


@pytest.mark.parametrize("body, says", [
    ('{"first_name": "A", "first_name": "B"}', "appears twice"),
    ('{"first_name": "A", "count": ' + "9" * 5000 + "}", "thousands of digits"),
    ('{"first_name": "A",}', "line 1, column 20"),
])
def test_a_body_with_a_key_twice_or_a_number_too_long_is_a_400(api, body, says):
    response = api.post("/api/v1/leads/", body, content_type="application/json")

    assert response.status_code == 400
    assert says in response.json()["detail"]
    assert "sys.set_int_max_str_digits" not in response.json()["detail"]
