import datetime

import pytest
from django.utils import timezone

from accounts.tests.factories import RoleFactory, UserFactory
from appointments import services
from appointments.tests.factories import AppointmentFactory
from calls.tests.factories import CallLogFactory
from gyms.tests.factories import BranchFactory
from leads.tests.factories import LeadFactory
from reps.core.models import OutboxMessage

pytestmark = pytest.mark.django_db

START = timezone.now().replace(minute=0, second=0, microsecond=0) + datetime.timedelta(days=2)
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def staff(gym):
    return UserFactory(gym=gym)


def booking(lead, staff, start=START, **extra):
    return {"lead": str(lead.pk), "staff": str(staff.pk), "scheduled_time": start.isoformat(), "title": "Tour", **extra}


def test_booking_through_the_api(api, gym, staff):
    lead = LeadFactory(gym=gym)

    response = api.post("/api/v1/appointments/", booking(lead, staff), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert datetime.datetime.fromisoformat(body["end_time"]) == START + HOUR
    assert body["status"] == "scheduled"
    assert OutboxMessage.objects.for_gym(gym).get().payload["appointment_id"] == body["id"]


def test_an_overlapping_booking_is_409_with_the_conflicting_appointments_id(api, gym, staff):
    first = api.post("/api/v1/appointments/", booking(LeadFactory(gym=gym), staff), format="json").json()

    response = api.post("/api/v1/appointments/", booking(LeadFactory(gym=gym), staff, START + HOUR / 2), format="json")

    assert response.status_code == 409
    assert response.json() == {
        "status": 409, "code": "appointment_conflict",
        "detail": f"This staff member already has an appointment at that time ({first['id']}).",
        "conflicting_appointment": first["id"],
    }


def test_an_overlap_only_the_database_catches_is_409_too(api, gym, staff, monkeypatch):
    first = AppointmentFactory(lead__gym=gym, staff=staff, scheduled_time=START)
    monkeypatch.setattr(services, "_check_free", lambda appointment: None)  # a concurrent booking won the race

    response = api.post("/api/v1/appointments/", booking(LeadFactory(gym=gym), staff, START), format="json")

    assert response.status_code == 409
    assert response.json()["conflicting_appointment"] == str(first.pk)


def test_rescheduling_into_an_overlap_is_409(api, gym, staff):
    blocker = AppointmentFactory(lead__gym=gym, staff=staff, scheduled_time=START)
    moving = AppointmentFactory(lead__gym=gym, staff=staff, scheduled_time=START + 3 * HOUR)

    response = api.patch(f"/api/v1/appointments/{moving.pk}/", {"scheduled_time": START.isoformat()}, format="json")

    assert response.status_code == 409
    assert response.json()["conflicting_appointment"] == str(blocker.pk)
    moved = api.patch(f"/api/v1/appointments/{moving.pk}/",
                      {"scheduled_time": (START + HOUR).isoformat()}, format="json")
    assert moved.status_code == 200


@pytest.mark.parametrize("field", ["lead", "staff", "branch", "call"])
def test_another_gyms_related_id_is_a_400_naming_the_field(api, gym, other_gym, staff, field):
    foreign = {
        "lead": lambda: LeadFactory(gym=other_gym),
        "staff": lambda: UserFactory(gym=other_gym),
        "branch": lambda: BranchFactory(gym=other_gym),
        "call": lambda: CallLogFactory(lead__gym=other_gym),
    }[field]()

    body = {**booking(LeadFactory(gym=gym), staff), field: str(foreign.pk)}
    response = api.post("/api/v1/appointments/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert "in your gym" in response.json()["errors"][field][0]


@pytest.mark.parametrize(
    "change, field",
    [({"lead": "not-a-uuid"}, "lead"), ({"staff": 42}, "staff"), ({"scheduled_time": "tomorrow"}, "scheduled_time"),
     ({"title": ""}, "title")],
)
def test_malformed_input_is_a_400_naming_the_field(api, gym, staff, change, field):
    response = api.post("/api/v1/appointments/", {**booking(LeadFactory(gym=gym), staff), **change}, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_status_changes_follow_the_rules(api, gym, staff):
    appointment = AppointmentFactory(lead__gym=gym, staff=staff, scheduled_time=START)
    url = f"/api/v1/appointments/{appointment.pk}/status/"

    assert api.post(url, {"status": "confirmed"}, format="json").json()["status"] == "confirmed"
    assert api.post(url, {"status": "completed"}, format="json").status_code == 200
    refused = api.post(url, {"status": "scheduled"}, format="json")
    assert refused.status_code == 400
    assert "cannot change from completed to scheduled" in refused.json()["errors"]["status"][0]
    assert api.post(url, {"status": "asleep"}, format="json").status_code == 400


def test_stats_and_upcoming(api, gym, staff):
    AppointmentFactory(lead__gym=gym, staff=staff, scheduled_time=START)

    assert api.get("/api/v1/appointments/upcoming/").json()[0]["scheduled_time"]
    day = START.astimezone(gym.tzinfo).date()  # the gym's day: in UTC it is the next one in New York's evening
    stats = api.get(f"/api/v1/appointments/stats/?start={day}&end={day}").json()
    assert stats["scheduled"] >= 1 and set(stats) == {"scheduled", "confirmed", "completed", "cancelled", "no_show"}
    assert api.get("/api/v1/appointments/stats/?start=2026-02-30").status_code == 400
    assert api.get("/api/v1/appointments/stats/?start=2026-03-02&end=2026-03-01").status_code == 400


def test_filters(api, gym, staff):
    mine = AppointmentFactory(lead__gym=gym, staff=staff, scheduled_time=START, status="confirmed")
    AppointmentFactory(lead__gym=gym, scheduled_time=START + HOUR)

    by_staff = api.get(f"/api/v1/appointments/?staff={staff.pk}").json()["results"]
    by_status = api.get("/api/v1/appointments/?status=confirmed&status=cancelled").json()["results"]
    assert [row["id"] for row in by_staff] == [str(mine.pk)] == [row["id"] for row in by_status]
    assert api.get("/api/v1/appointments/?scheduled_after=yesterday").status_code == 400


def test_time_filters_take_any_offset_python_reads(api, gym, staff):
    early = AppointmentFactory(lead__gym=gym, staff=staff, scheduled_time=START)
    AppointmentFactory(lead__gym=gym, staff=staff, scheduled_time=START + 2 * HOUR)
    # START + 1 hour written with a +23:28 offset, which PostgreSQL itself would refuse.
    far_east = (START + HOUR).astimezone(datetime.timezone(datetime.timedelta(hours=23, minutes=28)))

    response = api.get("/api/v1/appointments/", {"scheduled_before": far_east.isoformat()})

    assert response.status_code == 200, response.json()
    assert [row["id"] for row in response.json()["results"]] == [str(early.pk)]
    out_of_range = api.get("/api/v1/appointments/", {"scheduled_before": "9999-12-31T23:59:59-23:00"})
    assert out_of_range.status_code == 400 and "scheduled_before" in out_of_range.json()["errors"]


# --- found when tried (issue 13) ------------------------------------------------------------------


def test_booking_without_staff_books_the_first_free_sales_person_or_is_a_400_naming_staff(api, gym):
    busy = UserFactory(gym=gym, role=RoleFactory(name="sales"), email="a-sales@gym-a.test")
    free = UserFactory(gym=gym, role=RoleFactory(name="sales"), email="b-sales@gym-a.test")
    AppointmentFactory(lead=LeadFactory(gym=gym), staff=busy, scheduled_time=START)
    body = {"lead": str(LeadFactory(gym=gym).pk), "scheduled_time": START.isoformat(), "title": "Tour"}

    booked = api.post("/api/v1/appointments/", body, format="json")
    nobody_free = api.post("/api/v1/appointments/", body, format="json")
    unassigned = api.post("/api/v1/appointments/", {**body, "staff": None}, format="json")

    assert (booked.status_code, booked.json()["staff"]) == (201, str(free.pk))
    assert nobody_free.status_code == 400 and list(nobody_free.json()["errors"]) == ["staff"]
    assert (unassigned.status_code, unassigned.json()["staff"]) == (201, None)


def test_deleting_an_appointment_goes_through_its_service(api, gym, staff, django_capture_on_commit_callbacks,
                                                          settings):
    settings.USE_CACHED_REPOSITORIES = True
    appointment = AppointmentFactory(lead=LeadFactory(gym=gym), staff=staff, scheduled_time=START)
    day = START.astimezone(gym.tzinfo).date()
    stats_url = f"/api/v1/appointments/stats/?start={day}&end={day}"
    assert api.get(stats_url).json()["scheduled"] == 1  # cached now

    with django_capture_on_commit_callbacks(execute=True):
        deleted = api.delete(f"/api/v1/appointments/{appointment.pk}/")

    assert deleted.status_code == 204
    assert api.get(stats_url).json()["scheduled"] == 0  # not the cached 1
    message = OutboxMessage.objects.for_gym(gym).get(topic="appointment.deleted")
    assert message.payload["appointment_id"] == str(appointment.pk)


def test_status_in_a_body_is_a_400_that_points_at_the_status_action(api, gym, staff):
    appointment = AppointmentFactory(lead=LeadFactory(gym=gym), staff=staff, scheduled_time=START)

    response = api.patch(f"/api/v1/appointments/{appointment.pk}/", {"status": "completed"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "status": ["Read-only here: change it with POST /api/v1/appointments/{id}/status/."]}
    appointment.refresh_from_db()
    assert appointment.status == "scheduled"


def test_a_time_without_an_offset_is_read_in_the_gyms_time_zone(api, gym, staff):
    assert gym.timezone == "America/New_York"
    day = (START + datetime.timedelta(days=3)).astimezone(gym.tzinfo).date()

    response = api.post("/api/v1/appointments/", booking(LeadFactory(gym=gym), staff, title="Tour") | {
        "scheduled_time": f"{day}T10:00:00"}, format="json")

    assert response.status_code == 201, response.json()
    booked = services.Appointment.objects.for_gym(gym).get(pk=response.json()["id"])
    assert booked.scheduled_time == datetime.datetime.combine(day, datetime.time(10), gym.tzinfo)
    assert response.json()["scheduled_time"].startswith(f"{day}T10:00:00-0")  # answered in the gym's zone too


@pytest.mark.parametrize("query", ["end=9999-12-31", "start=0001-01-01", "end=0001-01-01", "start=9999-12-31"])
def test_stats_for_dates_out_of_range_are_400s(api, query):
    for url in ("/api/v1/appointments/stats/", "/api/v1/leads/stats/", "/api/v1/calls/metrics/"):
        response = api.get(f"{url}?{query}")
        assert response.status_code == 400, (url, query)
        assert list(response.json()["errors"]) == [query.split("=")[0]]
