"""The gym workspace (/workspace/), as gym staff use it: signed in with their own accounts, inside their gym."""

import csv
import datetime
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import PASSWORD, RoleFactory, UserFactory
from appointments.models import Appointment
from appointments.tests.factories import AppointmentFactory
from calls.models import CallLog
from calls.tests.factories import CallLogFactory, CallTranscriptFactory
from gyms.models import AISettings, Gym
from leads.models import Lead
from leads.tests.factories import LeadFactory, LeadTagFactory
from reps.tenancy.state import all_gyms
from workspace.admin import site

pytestmark = pytest.mark.django_db

MODELS = sorted(site._registry, key=lambda model: model._meta.label)


def url(name, *args):
    return reverse(f"workspace:{name}", args=args)


def page_of(model, view, *args):
    return url(f"{model._meta.app_label}_{model._meta.model_name}_{view}", *args)


@pytest.fixture
def staff_of(client):
    """staff_of(gym, role) signs the test client in to the workspace as a new member of that gym's staff."""
    def sign_in(gym, role="sales"):
        user = UserFactory(gym=gym, role=RoleFactory(name=role), first_name=role.title())
        response = client.post(url("login"), {"username": user.email, "password": PASSWORD,
                                              "next": url("index")})
        assert response.status_code == 302, response.content.decode()[:2000]
        return user
    return sign_in


@pytest.fixture
def called_gym(gym):
    """Gym A with a lead it may call: consent given, the AI agent on, a calling number."""
    Gym.objects.filter(pk=gym.pk).update(phone="+12125550100")
    with all_gyms():
        AISettings.objects.filter(gym=gym).update(is_enabled=True)
    return gym


def test_staff_sign_in_with_their_own_accounts_and_land_on_the_dashboard(client, gym):
    user = UserFactory(gym=gym, role=RoleFactory(name="sales"))

    response = client.post(url("login"), {"username": user.email, "password": PASSWORD, "next": url("index")},
                           follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == url("index")
    assert "Dashboard" in response.content.decode()
    assert gym.name in response.content.decode()


def test_platform_staff_and_wrong_passwords_cannot_sign_in(client, gym, superuser):
    for username, password in ((superuser.email, PASSWORD), (UserFactory(gym=gym).email, "wrong")):
        response = client.post(url("login"), {"username": username, "password": password})
        assert response.status_code == 200  # the form again, with its error
        assert "_auth_user_id" not in client.session
        assert response.context["form"].errors  # the same answer for both: nothing tells which accounts exist
    assert reverse("admin:index") in response.content.decode()  # where platform staff sign in


def test_the_site_root_sends_staff_to_the_workspace_and_everyone_else_to_its_sign_in(client, gym, staff_of):
    response = client.get("/")
    assert response["Location"] == url("login")
    sign_in = client.get(url("login")).content.decode()
    assert reverse("api-docs") in sign_in  # the sign-in page links the API's docs

    staff_of(gym)
    assert client.get("/")["Location"] == url("index")


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_every_page_of_another_gyms_object_is_a_404(client, gym, other_gym, staff_of, add_one_of_everything,
                                                    model):
    add_one_of_everything(other_gym)
    theirs = other_gym if model is Gym else model.objects.unscoped().filter(gym=other_gym).first()
    if model is User:
        theirs = UserFactory(gym=other_gym)
    assert theirs is not None, f"no {model._meta.label} of gym B to look for"
    staff_of(gym, "owner")  # the role that may open the most

    views = ["change", "delete", "history"] + (["recording"] if model is CallLog else [])
    for view in views:
        response = client.get(page_of(model, view, theirs.pk))
        assert response.status_code == 404, f"{view}: {response.status_code}"
        assert str(theirs.pk) not in response.content.decode()
    # And a write to it changes nothing.
    response = client.post(page_of(model, "change", theirs.pk), {"name": "Taken over"})
    assert response.status_code == 404


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_every_list_shows_only_the_users_gym_in_a_fixed_number_of_queries(client, gym, other_gym, staff_of,
                                                                          add_one_of_everything, model):
    staff_of(gym, "owner")
    add_one_of_everything(gym)
    add_one_of_everything(other_gym)
    changelist = page_of(model, "changelist")
    client.get(changelist, follow=True)  # what the first page of the session looks up once

    with CaptureQueriesContext(connection) as few:
        response = client.get(changelist, follow=True)
    assert response.status_code == 200
    for _ in range(3):
        add_one_of_everything(gym)
        add_one_of_everything(other_gym)
    with CaptureQueriesContext(connection) as many:
        response = client.get(changelist, follow=True)

    assert len(many) == len(few), f"{len(few)} queries with few rows, {len(many)} with many"
    if "cl" in response.context:
        rows = list(response.context["cl"].result_list)
        assert rows, "the gym's own rows are listed"
        gyms = {row.pk if model is Gym else row.gym_id for row in rows}
        assert gyms == {gym.pk}


def test_roles_decide_what_each_member_may_open(client, gym, staff_of):
    staff_of(gym, "sales")
    assert client.get(page_of(Lead, "changelist")).status_code == 200
    assert client.get(page_of(Appointment, "add")).status_code == 200
    assert client.get(page_of(User, "changelist")).status_code == 403  # staff are the managers'
    assert client.get(page_of(AISettings, "changelist")).status_code == 403
    assert client.get(page_of(Gym, "changelist")).status_code == 403
    assert client.get(url("leads_lead_import")).status_code == 403

    client.logout()
    staff_of(gym, "manager")
    assert client.get(page_of(User, "changelist")).status_code == 200
    assert client.get(page_of(Gym, "changelist")).status_code == 302  # to the gym's own page, as the API lets
    assert client.get(url("leads_lead_import")).status_code == 200


def test_the_lead_search_finds_a_phone_in_any_format_in_the_users_gym_only(client, gym, other_gym, staff_of):
    mine = LeadFactory(gym=gym, phone="+12125551299", first_name="Mine")
    LeadFactory(gym=gym, phone="+12125550000", first_name="Other")
    LeadFactory(gym=other_gym, phone="+12125551299", first_name="Theirs")
    staff_of(gym)

    for query in ("555-1299", "(212) 555-12", "212.555.1299"):
        response = client.get(page_of(Lead, "changelist"), {"q": query})
        assert [lead.pk for lead in response.context["cl"].result_list] == [mine.pk], query


def test_a_lead_moves_only_to_the_statuses_its_rules_allow(client, gym, staff_of):
    lead = LeadFactory(gym=gym, status="converted")
    staff_of(gym)
    change = page_of(Lead, "change", lead.pk)

    offered = [value for value, _ in client.get(change).context["adminform"].form.fields["status"].widget.choices]
    response = client.post(change, {"first_name": lead.first_name, "last_name": lead.last_name,
                                    "phone": lead.phone, "email": lead.email, "status": "new", "source": ""})

    assert "new" not in offered
    assert response.status_code == 200  # the form again, with the rule's error
    assert "cannot change from converted to new" in response.content.decode()
    lead.refresh_from_db()
    assert lead.status == "converted"


def test_a_lead_is_edited_through_its_service_and_a_refusal_is_an_error_on_the_form(client, gym, staff_of):
    lead = LeadFactory(gym=gym, phone="+12125550001")
    LeadFactory(gym=gym, phone="+12125550002")
    tag = LeadTagFactory(gym=gym, name="hot")
    staff_of(gym)
    form = {"first_name": "Renamed", "last_name": lead.last_name, "phone": "(212) 555-0001", "email": lead.email,
            "status": "contacted", "source": "web", "lead_tags": [tag.pk]}

    response = client.post(page_of(Lead, "change", lead.pk), form)
    taken = client.post(page_of(Lead, "change", lead.pk), {**form, "phone": "+12125550002"})

    assert response.status_code == 302, response.content.decode()[:3000]
    lead.refresh_from_db()
    assert (lead.first_name, lead.status, lead.phone) == ("Renamed", "contacted", "+12125550001")
    assert list(lead.tags.unscoped().values_list("name", flat=True)) == ["hot"]
    assert taken.status_code == 200
    assert taken.context["adminform"].form.errors
    lead.refresh_from_db()
    assert lead.phone == "+12125550001"


def test_queueing_ai_calls_shows_why_each_skipped_lead_was_skipped(client, called_gym, staff_of):
    willing = LeadFactory(gym=called_gym, consent_given_at=timezone.now(), consent_source="web form")
    unasked = LeadFactory(gym=called_gym, first_name="Unasked")
    staff_of(called_gym)

    response = client.post(page_of(Lead, "changelist"), {"action": "queue_calls",
                                                          "_selected_action": [willing.pk, unasked.pk]}, follow=True)

    shown = [str(message) for message in response.context["messages"]]
    assert any(message.startswith("Queued 1 AI call") for message in shown), shown
    assert any(message.startswith(f"Not queued (1): {unasked.full_name}:") for message in shown), shown
    assert CallLog.objects.unscoped().filter(lead=willing).count() == 1
    assert not CallLog.objects.unscoped().filter(lead=unasked).exists()


def test_the_export_is_the_selected_leads_with_formulas_made_harmless(client, gym, other_gym, staff_of):
    formula = LeadFactory(gym=gym, first_name="=HYPERLINK(\"http://evil\")", last_name="@SUM(A1)")
    LeadFactory(gym=gym, first_name="Unselected")
    theirs = LeadFactory(gym=other_gym)
    staff_of(gym)

    response = client.post(page_of(Lead, "changelist"), {"action": "export_csv",
                                                          "_selected_action": [formula.pk, theirs.pk]})

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(row["first_name"], row["last_name"]) for row in rows] == [("'=HYPERLINK(\"http://evil\")", "'@SUM(A1)")]
    assert rows[0]["phone"] == "'" + formula.phone  # E.164's plus would start a formula too


def test_an_import_shows_its_per_row_report_on_the_page(client, gym, staff_of):
    staff_of(gym, "manager")
    text = "first_name,last_name,phone\nAna,Lopez,+12125550123\nBad,Row,not a phone\n"

    response = client.post(url("leads_lead_import"), {
        "file": SimpleUploadedFile("leads.csv", text.encode(), content_type="text/csv"), "on_duplicate": "skip"})

    page = response.content.decode()
    assert response.status_code == 200
    assert response.context["report"]["created"] == 1
    assert [error["line"] for error in response.context["report"]["errors"]] == [3]
    assert "not a phone" in page
    assert Lead.objects.unscoped().filter(gym=gym, phone="+12125550123").exists()


def test_a_leads_page_shows_its_calls_as_conversations_and_its_appointments(client, gym, staff_of):
    lead = LeadFactory(gym=gym, first_name="Dana")
    transcript = CallTranscriptFactory(call__lead=lead, utterances=[
        {"role": "agent", "content": "Hi Dana, this is Alex from the gym."},
        {"role": "user", "content": "Hi! I'd love a tour on Friday."}])
    CallLog.objects.unscoped().filter(pk=transcript.call_id).update(
        summary="Wants a tour.", sentiment="Positive", recording_url="https://recordings.example/1.wav",
        start_time=timezone.now() - datetime.timedelta(days=1))
    AppointmentFactory(lead=lead, title="Gym tour")
    staff_of(gym)

    page = client.get(page_of(Lead, "change", lead.pk)).content.decode()

    assert "Hi Dana, this is Alex from the gym." in page
    assert "turn-agent" in page and "turn-user" in page
    assert "Wants a tour." in page and "Positive" in page
    assert page_of(CallLog, "recording", transcript.call_id) in page
    assert "Appointment: Gym tour" in page


def test_the_dashboard_shows_the_apis_numbers_for_the_same_range(client, api_client_for, gym, staff_of):
    for status in ("new", "new", "contacted", "converted"):
        LeadFactory(gym=gym, status=status)
    for outcome in ("voicemail", "appointment_booked"):
        CallLogFactory(lead=LeadFactory(gym=gym), start_time=timezone.now(), outcome=outcome, duration=60,
                       status="completed")
    user = staff_of(gym, "manager")
    today = timezone.localdate(timezone=gym.tzinfo).isoformat()
    start = (timezone.localdate(timezone=gym.tzinfo) - datetime.timedelta(days=6)).isoformat()
    api = api_client_for(user)

    figures = client.get(url("index"), {"start": start, "end": today}).context["dashboard"]
    stats = api.get("/api/v1/leads/stats/", {"start": start, "end": today}).json()
    metrics = api.get("/api/v1/calls/metrics/", {"start": start, "end": today}).json()
    appointments = api.get("/api/v1/appointments/stats/", {"start": start, "end": today}).json()

    assert figures["funnel"] == stats
    assert figures["leads_created"] == sum(stats.values()) == 6
    assert figures["calls"] == metrics
    assert figures["appointments"] == appointments
    assert figures["conversion_rate"] == round(100 * stats["converted"] / 6, 1)
    assert figures["ai_calls"] == 2


def test_the_dashboard_says_what_is_wrong_with_a_range_it_cannot_read(client, gym, staff_of):
    staff_of(gym)
    for query, error in (({"start": "2026-13-01", "end": "2026-12-01"}, "YYYY-MM-DD"),
                         ({"start": "2026-12-02", "end": "2026-12-01"}, "before the start"),
                         ({"days": "7"}, "Unknown parameter days")):
        response = client.get(url("index"), query)
        assert response.status_code == 200
        assert error in response.content.decode(), query


def test_the_agenda_shows_the_weeks_appointments_by_day_and_staff_member(client, gym, other_gym, staff_of):
    trainer = UserFactory(gym=gym, first_name="Tess", last_name="Trainer")
    today = timezone.localdate(timezone=gym.tzinfo)
    monday = today - datetime.timedelta(days=today.weekday())
    at = datetime.datetime.combine(monday + datetime.timedelta(days=2), datetime.time(10), gym.tzinfo)
    AppointmentFactory(lead=LeadFactory(gym=gym), staff=trainer, scheduled_time=at, title="Wednesday tour")
    AppointmentFactory(lead=LeadFactory(gym=other_gym), scheduled_time=at, title="Their tour")
    staff_of(gym)

    response = client.get(url("agenda"), {"date": monday.isoformat()})

    agenda = response.context["agenda"]
    assert [day.count for day in agenda.entries] == [0, 0, 1, 0, 0, 0, 0]
    assert agenda.entries[2].by_staff[0][0] == "Tess Trainer"
    page = response.content.decode()
    assert "Wednesday tour" in page and "Their tour" not in page
    assert "10:00" in page
    mine_only = client.get(url("agenda"), {"date": monday.isoformat(), "staff": str(trainer.pk)})
    assert mine_only.context["agenda"].entries[2].count == 1
    assert "No such staff member" in client.get(url("agenda"), {"staff": str(UserFactory(gym=other_gym).pk)}
                                                ).content.decode()


def test_appointments_list_upcoming_first_in_the_gyms_time(client, gym, staff_of):
    now = timezone.now()
    later = AppointmentFactory(lead=LeadFactory(gym=gym), scheduled_time=now + datetime.timedelta(days=3))
    sooner = AppointmentFactory(lead=LeadFactory(gym=gym), scheduled_time=now + datetime.timedelta(days=1))
    AppointmentFactory(lead=LeadFactory(gym=gym), scheduled_time=now - datetime.timedelta(days=1))
    staff_of(gym)

    response = client.get(page_of(Appointment, "changelist"))

    assert [a.pk for a in response.context["cl"].result_list] == [sooner.pk, later.pk]
    local = timezone.localtime(sooner.scheduled_time, gym.tzinfo).strftime("%H:%M %Z")
    assert local in response.content.decode()


def test_a_booking_that_overlaps_is_an_error_on_the_form_not_a_500(client, gym, staff_of):
    trainer = UserFactory(gym=gym)
    at = timezone.now() + datetime.timedelta(days=2)
    AppointmentFactory(lead=LeadFactory(gym=gym), staff=trainer, scheduled_time=at,
                       end_time=at + datetime.timedelta(hours=1))
    lead = LeadFactory(gym=gym)
    staff_of(gym)
    local = timezone.localtime(at + datetime.timedelta(minutes=30), gym.tzinfo)
    end = local + datetime.timedelta(hours=1)

    response = client.post(page_of(Appointment, "add"), {
        "lead": lead.pk, "title": "Tour", "staff": trainer.pk, "status": "scheduled",
        "scheduled_time_0": local.date().isoformat(), "scheduled_time_1": local.strftime("%H:%M:%S"),
        "end_time_0": end.date().isoformat(), "end_time_1": end.strftime("%H:%M:%S")})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert Appointment.objects.unscoped().filter(lead=lead).count() == 0


def test_a_long_list_stops_counting_but_every_page_stays_reachable(client, gym, staff_of, monkeypatch):
    from workspace.admin import LeadAdmin

    monkeypatch.setattr(LeadAdmin, "count_limit", 5)
    monkeypatch.setattr(LeadAdmin, "list_per_page", 2)
    leads = [LeadFactory(gym=gym) for _ in range(9)]
    staff_of(gym)

    first = client.get(page_of(Lead, "changelist"))
    seen = []
    for number in range(1, 6):
        page = client.get(page_of(Lead, "changelist"), {"p": number})
        assert page.status_code == 200, number
        seen += [lead.pk for lead in page.context["cl"].result_list]

    assert "5+ leads" in first.content.decode()  # not a count it did not make
    assert "Select all 5+ leads" in first.content.decode()
    assert sorted(seen) == sorted(lead.pk for lead in leads)  # every row on some page, once
    assert "9 leads" in page.content.decode()  # the last page knows the whole count


def test_the_agenda_keeps_two_staff_members_of_one_name_apart(client, gym, staff_of):
    at = timezone.now() + datetime.timedelta(hours=1)
    for _ in range(2):
        AppointmentFactory(lead=LeadFactory(gym=gym), staff=UserFactory(gym=gym, first_name="Sam", last_name="Lee"),
                           scheduled_time=at)
    staff_of(gym)

    day = timezone.localtime(at, gym.tzinfo).date()
    agenda = client.get(url("agenda"), {"date": day.isoformat(), "view": "day"}).context["agenda"]

    assert [(name, len(appointments)) for name, appointments in agenda.entries[0].by_staff] == [("Sam Lee", 1),
                                                                                               ("Sam Lee", 1)]


def test_adding_staff_checks_the_email_role_and_password_as_the_api_does(client, gym, other_gym, staff_of):
    theirs = UserFactory(gym=other_gym, email="coach@other.test")
    staff_of(gym, "manager")
    sales = RoleFactory(name="sales")
    form = {"email": "new@gym-a.test", "first_name": "New", "last_name": "Person", "role": sales.pk,
            "is_active": "on", "password": "a long enough passphrase"}

    answers = {case: client.post(page_of(User, "add"), {**form, **change}) for case, change in {
        "taken": {"email": theirs.email}, "no role": {"role": ""}, "weak": {"password": "1"}}.items()}
    added = client.post(page_of(User, "add"), form)

    for case, answer in answers.items():
        assert answer.status_code == 200, case  # the form again, with its error; never a 500
        assert answer.context["adminform"].form.errors, case
    assert answers["taken"].context["adminform"].form.errors["email"] == ["This email is already taken."]
    assert added.status_code == 302
    assert User.objects.unscoped().filter(gym=gym, email="new@gym-a.test").exists()
    assert not User.objects.unscoped().filter(gym=gym, email=theirs.email).exists()


def test_deactivating_a_staff_member_keeps_their_row(client, gym, staff_of):
    leaving = UserFactory(gym=gym, email="leaving@gym-a.test")
    staff_of(gym, "manager")

    confirm = client.get(page_of(User, "delete", leaving.pk))
    done = client.post(page_of(User, "delete", leaving.pk), {"post": "yes"})

    assert confirm.status_code == 200
    assert done.status_code == 302
    leaving.refresh_from_db()
    assert leaving.is_active is False


def test_a_list_takes_only_its_own_filters_with_their_own_values(client, gym, other_gym, staff_of):
    owner = UserFactory(gym=gym, role=RoleFactory(name="owner"))
    LeadTagFactory(gym=gym)
    theirs = LeadTagFactory(gym=other_gym)
    staff_of(gym, "manager")
    prefix = owner.password[:12]

    # A lookup on a field that is no filter of the list (a password hash, one prefix at a time) is refused.
    probe = client.get(page_of(User, "changelist"), {"email": owner.email, "password__startswith": prefix})
    assert probe.status_code in (302, 400)
    assert owner.email not in probe.content.decode()
    for query in ({"tag": "not-a-uuid"}, {"tag": str(theirs.pk)}, {"status__exact": "bogus"}, {"staff": "x"}):
        response = client.get(page_of(Lead, "changelist"), query)
        assert response.status_code == 302 and response["Location"].endswith("?e=1"), query  # "bad filter"
    assert client.get(page_of(Appointment, "changelist"), {"when": "bogus"}).status_code == 302


def test_no_moment_outside_the_apis_range_is_booked_and_no_day_outside_it_is_shown(client, gym, staff_of):
    lead = LeadFactory(gym=gym)
    staff_of(gym)

    response = client.post(page_of(Appointment, "add"), {
        "lead": lead.pk, "title": "Tour", "status": "scheduled",
        "scheduled_time_0": "9999-12-31", "scheduled_time_1": "23:00:00",
        "end_time_0": "9999-12-31", "end_time_1": "23:59:00"})

    assert response.status_code == 200 and "Use a moment from 1900 to 2999." in response.content.decode()
    assert not Appointment.objects.unscoped().filter(lead=lead).exists()
    assert "Choose days from" in client.get(url("index"), {"start": "9999-12-25", "end": "9999-12-31"}
                                            ).content.decode()
    for day in ("9999-12-31", "0001-01-01"):
        assert "Choose a day from" in client.get(url("agenda"), {"date": day}).content.decode()


def test_the_voice_platforms_key_is_never_shown_in_the_workspace(client, gym, staff_of):
    from gyms.models import VoiceSettings

    with all_gyms():
        VoiceSettings.objects.filter(gym=gym).update(platform_api_key="key_secret_of_the_gym")
        settings_row = VoiceSettings.objects.get(gym=gym)
    staff_of(gym, "owner")

    page = client.get(page_of(VoiceSettings, "change", settings_row.pk)).content.decode()

    assert "key_secret_of_the_gym" not in page and "platform_api_key" not in page


def test_an_imports_bad_cells_are_errors_of_their_rows(client, gym, staff_of):
    staff_of(gym, "manager")
    text = ("first_name,last_name,phone,consent\n"
            "A\x00na,Lopez,+12125550905,yes\n"
            "Maybe,Later,+12125550906,maybe\n"
            "Yes,Please,+12125550907,yes\n")

    response = client.post(url("leads_lead_import"), {
        "file": SimpleUploadedFile("leads.csv", text.encode(), content_type="text/csv"), "on_duplicate": "skip"})

    report = response.context["report"]
    assert response.status_code == 200
    assert {error["line"]: sorted(error["errors"]) for error in report["errors"]} == {2: ["first_name"],
                                                                                      3: ["consent"]}
    assert report["created"] == 1


def test_signing_in_without_a_page_to_return_to_opens_the_workspace(client, gym):
    user = UserFactory(gym=gym, role=RoleFactory(name="sales"))

    response = client.post(url("login"), {"username": user.email, "password": PASSWORD})

    assert response.status_code == 302 and response["Location"] == url("index")


def test_the_call_outcomes_ring_adds_up_to_the_calls(client, gym, staff_of):
    CallLogFactory(lead=LeadFactory(gym=gym), start_time=timezone.now(), outcome="voicemail", status="completed")
    CallLogFactory(lead=LeadFactory(gym=gym), start_time=timezone.now(), status="failed")
    staff_of(gym)

    figures = client.get(url("index")).context["dashboard"]

    assert figures["calls"]["total_calls"] == 2
    assert "No outcome" in figures["outcomes_chart"] and "Voicemail" in figures["outcomes_chart"]


def test_a_lists_query_string_is_one_it_understands_or_a_clear_refusal(client, gym, other_gym, staff_of):
    from calls.tests.factories import CampaignFactory

    theirs = CampaignFactory(gym=other_gym)
    LeadFactory(gym=gym)
    staff_of(gym, "manager")
    leads = page_of(Lead, "changelist")

    for query in ({"status__regex": "("}, {"status__contains": "\x00"}, {"status__in": "bogus"}, {"notes": "x"}):
        assert client.get(leads, query).status_code == 400, query  # no such filter: Django's "disallowed lookup"
    for page, query in ((leads, {"status__exact": "bogus"}), (leads, {"p": "abc"}), (leads, {"o": "99"}),
                        (leads, {"status__exact": ["new", "lost"]}),
                        (page_of(CallLog, "changelist"), {"campaign__id__exact": str(theirs.pk)}),
                        (page_of(User, "changelist"), {"role__id__exact": "99"})):
        response = client.get(page, query)
        assert response.status_code == 302 and response["Location"].endswith("?e=1"), query  # "bad filter"
    assert client.get(leads, {"status__exact": "new", "o": "-2"}).status_code == 200
    # A list without actions (no selection box) numbers its columns from its first: the calls by their start.
    calls = page_of(CallLog, "changelist")
    for order in ("0", "-0", "1.-2"):
        assert client.get(calls, {"o": order}).status_code == 200, order
    assert client.get(calls, {"o": "7"})["Location"].endswith("?e=1")  # it has seven columns, 0 to 6


def test_an_action_on_a_malformed_id_is_refused_with_a_message(client, gym, staff_of):
    staff_of(gym)

    response = client.post(page_of(Lead, "changelist"), {"action": "export_csv",
                                                          "_selected_action": ["not-a-uuid"]}, follow=True)

    assert response.status_code == 200
    assert "'not-a-uuid' is not the id of a row." in [str(m) for m in response.context["messages"]]


def test_a_search_too_long_to_run_is_refused_not_timed_out(client, gym, staff_of):
    staff_of(gym)
    words = "a " * 50

    listed = client.get(page_of(Lead, "changelist"), {"q": words}, follow=True)
    completed = client.get(url("autocomplete"), {"app_label": "appointments", "model_name": "appointment",
                                                 "field_name": "lead", "term": words})

    assert listed.redirect_chain[-1][0].endswith("?e=1")
    assert any("at most 10 words" in str(m) for m in listed.context["messages"])
    assert completed.status_code == 400 and completed.json()["results"] == []


def test_staff_cannot_deactivate_themselves_and_managers_are_not_offered_owner(client, gym, staff_of):
    manager = staff_of(gym, "manager")
    RoleFactory(name="owner")

    refused = client.post(page_of(User, "delete", manager.pk), {"post": "yes"}, follow=True)
    roles = [label for _, label in client.get(page_of(User, "add")).context["adminform"].form.fields["role"].choices]

    assert any("cannot deactivate yourself" in str(m) for m in refused.context["messages"])
    manager.refresh_from_db()
    assert manager.is_active
    assert "owner" not in [label.lower() for label in roles]


def test_editing_a_booking_keeps_its_deactivated_trainer(client, gym, staff_of):
    trainer = UserFactory(gym=gym, is_active=False)
    at = timezone.localtime(timezone.now() + datetime.timedelta(days=2), gym.tzinfo).replace(microsecond=0)
    booking = AppointmentFactory(lead=LeadFactory(gym=gym), staff=trainer, scheduled_time=at,
                                 end_time=at + datetime.timedelta(hours=1))
    staff_of(gym)
    end = at + datetime.timedelta(hours=1)

    response = client.post(page_of(Appointment, "change", booking.pk), {
        "lead": booking.lead_id, "title": "Renamed tour", "staff": trainer.pk, "status": "scheduled",
        "scheduled_time_0": at.date().isoformat(), "scheduled_time_1": at.strftime("%H:%M:%S"),
        "end_time_0": end.date().isoformat(), "end_time_1": end.strftime("%H:%M:%S")})

    assert response.status_code == 302, response.content.decode()[:2000]
    booking.refresh_from_db()
    assert (booking.title, booking.staff_id) == ("Renamed tour", trainer.pk)


def test_queueing_many_leads_says_each_reason_once(client, called_gym, staff_of):
    unasked = [LeadFactory(gym=called_gym) for _ in range(7)]
    staff_of(called_gym)

    response = client.post(page_of(Lead, "changelist"), {"action": "queue_calls",
                                                          "_selected_action": [lead.pk for lead in unasked]},
                           follow=True)

    shown = [str(message) for message in response.context["messages"]]
    assert len(shown) == 1 and shown[0].startswith("Not queued (7):") and "and 2 more" in shown[0]


def test_the_agenda_links_no_week_outside_the_days_it_may_show(client, gym, staff_of):
    staff_of(gym)

    first = client.get(url("agenda"), {"date": "1900-01-02", "view": "day"})
    last = client.get(url("agenda"), {"date": "2999-12-24", "view": "day"})

    assert first.status_code == last.status_code == 200
    assert "Earlier" not in first.content.decode() and "Later" in first.content.decode()
    assert "Later" not in last.content.decode() and "Earlier" in last.content.decode()


def test_an_imported_tag_too_long_to_keep_is_its_rows_error_not_cut_short(client, gym, staff_of):
    staff_of(gym, "manager")
    text = f"first_name,last_name,phone,tags\nAna,Lopez,+12125550905,{'x' * 51}\nBo,Diaz,+12125550906,{'y' * 50}\n"

    response = client.post(url("leads_lead_import"), {
        "file": SimpleUploadedFile("leads.csv", text.encode(), content_type="text/csv"), "on_duplicate": "skip"})

    report = response.context["report"]
    assert [(error["line"], sorted(error["errors"])) for error in report["errors"]] == [(2, ["tags"])]
    assert report["created"] == 1
