import datetime
import zoneinfo

import pytest

from appointments.tests.factories import AppointmentFactory
from calls.tests.factories import CallLogFactory
from gyms.tests.factories import GymFactory
from leads.models import Lead
from leads.tests.factories import (
    LeadFactory,
    LeadQualificationFactory,
    LeadTagAssignmentFactory,
)
from reps.tenancy.database import gym_transaction

pytestmark = pytest.mark.django_db

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def leads(gym):
    return Lead.objects.for_gym(gym)


# --- find_by_phone ----------------------------------------------------------


@pytest.mark.parametrize("written", ["+1 212 555 0123", "(212) 555-0123", "212.555.0123", "2125550123", "+12125550123"])
def test_find_by_phone_in_any_format(gym, written):
    lead = LeadFactory(gym=gym, phone="+12125550123")

    assert leads(gym).find_by_phone(written) == lead


def test_find_by_phone_never_finds_another_gyms_lead(gym, other_gym):
    LeadFactory(gym=other_gym, phone="+12125550123")

    assert leads(gym).find_by_phone("212 555 0123") is None


@pytest.mark.parametrize("written", ["", "not a phone", "123", None])
def test_find_by_phone_of_an_invalid_number_is_none(gym, written):
    LeadFactory(gym=gym)

    assert leads(gym).find_by_phone(written) is None


# --- prioritized --------------------------------------------------------------


def test_prioritized_leads_seed_test_ported(gym):
    """The seed's section 15 test, on PostgreSQL: five qualified leads scored 0..40."""
    created = []
    for i in range(5):
        lead = LeadFactory(gym=gym, first_name=f"Test{i}", last_name=f"User{i}", status="qualified")
        LeadQualificationFactory(lead=lead, score=i * 10)
        created.append(lead)

    result = list(leads(gym).prioritized(limit=3))

    assert len(result) == 3
    assert [lead.id for lead in result] == [created[4].id, created[3].id, created[2].id]


def test_prioritized_keeps_open_leads_only_and_puts_unscored_ones_last(gym, other_gym):
    now = datetime.datetime.now(datetime.UTC)
    old_unscored = LeadFactory(gym=gym, status="new", created_at=now - datetime.timedelta(days=2))
    new_unscored = LeadFactory(gym=gym, status="contacted", created_at=now - datetime.timedelta(days=1))
    low = LeadQualificationFactory(lead__gym=gym, lead__status="qualified", score=5).lead
    older_tie = LeadQualificationFactory(
        lead__gym=gym, score=80, lead__created_at=now - datetime.timedelta(hours=5)
    ).lead
    newer_tie = LeadQualificationFactory(
        lead__gym=gym, score=80, lead__created_at=now - datetime.timedelta(hours=1)
    ).lead
    LeadQualificationFactory(lead__gym=gym, lead__status="converted", score=100)
    LeadQualificationFactory(lead__gym=gym, lead__status="lost", score=99)
    LeadQualificationFactory(lead__gym=other_gym, score=100)

    result = list(leads(gym).prioritized())

    # Ties on score: newest first. Unscored leads come after every scored one.
    assert result == [newer_tie, older_tie, low, new_unscored, old_unscored]


def test_prioritized_loads_qualifications_with_the_leads_in_two_queries_at_most(gym, django_assert_num_queries):
    for score in (10, 20, 30):
        LeadQualificationFactory(lead__gym=gym, score=score)

    with django_assert_num_queries(1):  # enough scored leads: one query
        assert [lead.qualification.score for lead in leads(gym).prioritized(limit=2)] == [30, 20]
    with django_assert_num_queries(2):  # too few: the newest unscored ones are added
        assert [lead.qualification.score for lead in leads(gym).prioritized()] == [30, 20, 10]


def test_prioritized_of_an_empty_gym_is_empty(gym):
    assert list(leads(gym).prioritized()) == []


# --- search ---------------------------------------------------------------------


@pytest.fixture(params=["in the gym's transaction", "on a login that bypasses row-level security"])
def search(request):
    """search(gym, query, **options): the leads found, as a request finds them (through the database's
    reps_lead_matches()) or as the platform's login does (reading the table itself)."""
    def run(gym, query, **options):
        if request.param.startswith("in the gym"):
            with gym_transaction(gym):
                return list(leads(gym).search(query, **options))
        return list(leads(gym).search(query, **options))
    return run


@pytest.fixture
def people(gym, other_gym):
    return {
        "jane": LeadFactory(
            gym=gym, first_name="Jane", last_name="Doe", email="jane@fitmail.com", phone="+12125550123"
        ),
        "john": LeadFactory(gym=gym, first_name="John", last_name="Doerr", email="jd@work.org", phone="+16465559876"),
        "mary": LeadFactory(
            gym=gym, first_name="Mary", last_name="Janeway", email="mary@sea.net", phone="+17185550000"
        ),
        "other": LeadFactory(
            gym=other_gym, first_name="Jane", last_name="Doe", email="jane@fitmail.com", phone="+12125550123"
        ),
    }


@pytest.mark.parametrize(
    "query, expected",
    [
        ("jane", {"jane", "mary"}),  # first name, and a last name containing it
        ("JANE", {"jane", "mary"}),
        ("doe", {"jane", "john"}),
        ("jane doe", {"jane"}),  # first plus last name
        ("doe jane", {"jane"}),
        ("fitmail", {"jane"}),
        ("@work.org", {"john"}),
        ("555-0123", {"jane"}),
        ("(212) 555", {"jane"}),
        ("+1 646", {"john"}),
        ("9876", {"john"}),
        ("555", {"jane", "john", "mary"}),
        ("zebra", set()),
        ("", set()),
        ("   ", set()),
    ],
)
def test_search(gym, people, query, expected, search):
    names = {name for name, lead in people.items() if lead in set(search(gym, query))}

    assert names == expected


def test_search_finds_national_phone_fragments_of_a_london_gym(search):
    london = GymFactory(country_code="GB", timezone="Europe/London")
    lead = LeadFactory(gym=london, phone="020 7946 0958")

    assert search(london, "020 7946") == [lead]
    assert search(london, "7946 0958") == [lead]


def test_search_respects_its_limit_newest_first(gym, search):
    sams = [LeadFactory(gym=gym, first_name="Sam") for _ in range(5)]

    assert search(gym, "sam", limit=3) == sorted(sams, key=lambda lead: (lead.created_at, lead.pk))[:-4:-1]


def test_search_takes_wildcards_and_quotes_literally(gym, search):
    fit = LeadFactory(gym=gym, first_name="Max", last_name="100%Fit", email="max_o'neil@example.com")
    LeadFactory(gym=gym, first_name="Maxine", last_name="Fitzgerald", email="maxine@example.com")

    assert search(gym, "0%f") == [fit]
    assert search(gym, "%") == [fit]
    assert search(gym, "x_o") == [fit]
    assert search(gym, "o'neil") == [fit]
    assert search(gym, "\\") == []


# --- eager loading ------------------------------------------------------------------


def _lead_with_everything(gym):
    lead = LeadQualificationFactory(lead__gym=gym).lead
    for _ in range(2):
        LeadTagAssignmentFactory(lead=lead)
        CallLogFactory(lead=lead)
        AppointmentFactory(lead=lead)
    return lead


def _touch_relationships(lead):
    return (
        lead.qualification.score,
        lead.branch,
        [t.name for t in lead.tags.all()],
        [c.status for c in lead.calls.all()],
        [a.status for a in lead.appointments.all()],
    )


@pytest.mark.parametrize("count", [1, 50])
def test_with_relationships_runs_four_queries_for_any_number_of_leads(gym, count, django_assert_num_queries):
    for _ in range(count):
        _lead_with_everything(gym)

    with django_assert_num_queries(4):
        loaded = [_touch_relationships(lead) for lead in leads(gym).with_relationships()]

    assert len(loaded) == count
    assert all(len(tags) == len(calls) == len(appointments) == 2 for _, _, tags, calls, appointments in loaded)


@pytest.mark.parametrize("count", [1, 50])
def test_listing_leads_with_tags_and_qualification_runs_two_queries(gym, count, django_assert_num_queries):
    for _ in range(count):
        _lead_with_everything(gym)

    with django_assert_num_queries(2):
        rows = [(lead.qualification.score, [t.name for t in lead.tags.all()]) for lead in leads(gym).with_summary()]

    assert len(rows) == count


def test_with_relationships_never_loads_another_gyms_rows(gym, other_gym):
    lead = _lead_with_everything(gym)
    LeadTagAssignmentFactory(lead=_lead_with_everything(other_gym))

    loaded = leads(gym).with_relationships().get(pk=lead.pk)

    assert {tag.gym_id for tag in loaded.tags.all()} == {gym.pk}
    assert {call.gym_id for call in loaded.calls.all()} == {gym.pk}
    assert not leads(gym).with_relationships().filter(pk__in=Lead.objects.for_gym(other_gym).values("pk")).exists()


def test_a_leads_calls_are_newest_first(gym):
    lead = LeadFactory(gym=gym)
    now = datetime.datetime.now(datetime.UTC)
    middle = CallLogFactory(lead=lead, start_time=now - datetime.timedelta(days=2))
    newest = CallLogFactory(lead=lead, start_time=now - datetime.timedelta(days=1))
    oldest = CallLogFactory(lead=lead, start_time=now - datetime.timedelta(days=3))

    loaded = leads(gym).with_relationships().get(pk=lead.pk)

    assert list(loaded.calls.all()) == [newest, middle, oldest]


# --- conversion_stats ---------------------------------------------------------------


def _lead_created(gym, local_time, status="new"):
    return LeadFactory(gym=gym, status=status, created_at=local_time.replace(tzinfo=NEW_YORK))


def test_conversion_stats_counts_every_status_over_inclusive_local_days(gym, other_gym):
    day = datetime.datetime(2026, 3, 10)
    _lead_created(gym, day.replace(hour=0, minute=0), "new")  # first instant of the first day
    _lead_created(gym, day.replace(hour=12), "converted")
    _lead_created(
        gym, day + datetime.timedelta(days=1, hours=23, minutes=59), "converted"
    )  # last minute of the last day
    _lead_created(gym, day - datetime.timedelta(minutes=1), "lost")  # the evening before: out
    _lead_created(gym, day + datetime.timedelta(days=2), "lost")  # the next midnight: out
    _lead_created(other_gym, day.replace(hour=12), "converted")

    stats = leads(gym).conversion_stats(datetime.date(2026, 3, 10), datetime.date(2026, 3, 11))

    assert stats == {"new": 1, "contacted": 0, "qualified": 0, "converted": 2, "lost": 0}


def test_conversion_stats_use_the_gyms_day_not_utcs(gym):
    # 23:30 in New York on 10 March is already 11 March in UTC.
    _lead_created(gym, datetime.datetime(2026, 3, 10, 23, 30))

    assert leads(gym).conversion_stats("2026-03-10", "2026-03-10")["new"] == 1
    assert leads(gym).conversion_stats("2026-03-11", "2026-03-11")["new"] == 0


def test_conversion_stats_of_an_empty_gym_are_all_zero(gym):
    assert leads(gym).conversion_stats("2026-01-01", "2026-12-31") == dict.fromkeys(
        ["new", "contacted", "qualified", "converted", "lost"], 0
    )


@pytest.mark.parametrize("start, end", [("2026-03-11", "2026-03-10"), ("yesterday", "2026-03-10")])
def test_conversion_stats_refuse_bad_ranges(gym, start, end):
    with pytest.raises(ValueError):
        leads(gym).conversion_stats(start, end)
