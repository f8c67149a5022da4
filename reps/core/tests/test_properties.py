"""Property-based tests (hypothesis): phone numbers, the list() parser, intervals against the database,
and status transitions."""

import datetime

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from appointments.models import Appointment
from appointments.services import APPOINTMENT_TRANSITIONS
from calls.services import CALL_TRANSITIONS
from leads.models import Lead
from leads.services import LEAD_TRANSITIONS
from reps.core.phones import normalize_phone
from reps.core.transitions import InvalidTransition, check_transition
from reps.tenancy.queryset import InvalidQuery

# --- phone numbers -------------------------------------------------------------------------------------------

REGIONS = ["US", "GB", "DE", "FR", "AU", "CA", "IN", "BR"]


@st.composite
def valid_numbers(draw):
    region = draw(st.sampled_from(REGIONS))
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    return region, example


@given(valid_numbers(), st.sampled_from([phonenumbers.PhoneNumberFormat.E164,
                                         phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                                         phonenumbers.PhoneNumberFormat.NATIONAL]))
def test_any_written_form_of_a_valid_number_normalizes_to_its_e164(region_and_number, style):
    region, number = region_and_number
    written = phonenumbers.format_number(number, style)

    assert normalize_phone(written, region) == phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@given(st.text(max_size=30), st.sampled_from(REGIONS + [None]))
def test_normalizing_anything_gives_e164_or_a_validation_error(text, region):
    try:
        result = normalize_phone(text, region)
    except ValidationError as error:
        assert error.messages
    else:
        assert result.startswith("+") and result[1:].isdigit() and 8 <= len(result) <= 16
        assert normalize_phone(result) == result  # normalizing again changes nothing


# --- list(): what it accepts and refuses -------------------------------------------------------------------

FIELDS = [field.name for field in Lead._meta.concrete_fields]


class ListParserProperties(TestCase):
    @settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
    @given(
        filters=st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=12)),
                                st.one_of(st.none(), st.text(max_size=8), st.integers(), st.booleans(),
                                          st.lists(st.text(max_size=5), max_size=3)), max_size=3),
        sort_by=st.one_of(st.none(), st.sampled_from(FIELDS), st.text(max_size=10)),
        sort_dir=st.sampled_from(["asc", "desc", "up", ""]),
        skip=st.integers(-2, 50), limit=st.integers(-2, 2000),
    )
    def test_list_answers_rows_of_the_gym_or_invalid_query_never_anything_else(self, filters, sort_by, sort_dir,
                                                                               skip, limit):
        import uuid

        gym_id = uuid.uuid4()
        try:
            rows = Lead.objects.for_gym(gym_id).list(filters=filters, sort_by=sort_by, sort_dir=sort_dir, skip=skip,
                                                     limit=limit)
        except InvalidQuery:
            return
        assert rows == []  # an unknown gym has no rows, whatever the filters


# --- intervals: has_conflict agrees with the exclusion constraint -------------------------------------------

BASE = datetime.datetime(2030, 1, 1, 9, tzinfo=datetime.UTC)


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(1, 12)), min_size=1, max_size=6),
       st.tuples(st.integers(0, 40), st.integers(1, 12)))
def test_has_conflict_agrees_with_the_database(gym, booked, candidate):
    from accounts.tests.factories import UserFactory
    from leads.tests.factories import LeadFactory

    with transaction.atomic():
        staff, lead = UserFactory(gym=gym), LeadFactory(gym=gym)
        for start, length in booked:
            try:
                with transaction.atomic():
                    Appointment.objects.create(gym=gym, lead=lead, staff=staff, title="x",
                                               scheduled_time=BASE + datetime.timedelta(minutes=15 * start),
                                               end_time=BASE + datetime.timedelta(minutes=15 * (start + length)))
            except IntegrityError:
                pass  # it overlapped an earlier one: the database refused it, as it should
        start = BASE + datetime.timedelta(minutes=15 * candidate[0])
        end = start + datetime.timedelta(minutes=15 * candidate[1])
        predicted = Appointment.objects.for_gym(gym).has_conflict(staff, start, end)
        try:
            with transaction.atomic():
                Appointment.objects.create(gym=gym, lead=lead, staff=staff, title="x", scheduled_time=start,
                                           end_time=end)
            refused = False
        except IntegrityError:
            refused = True
        assert predicted == refused
        transaction.set_rollback(True)


# --- status transitions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rules", [LEAD_TRANSITIONS, CALL_TRANSITIONS, APPOINTMENT_TRANSITIONS],
                         ids=["lead", "call", "appointment"])
@given(data=st.data())
def test_a_walk_of_status_changes_follows_exactly_the_allowed_ones(rules, data):
    statuses = list(rules)
    current = data.draw(st.sampled_from(statuses))
    for new in data.draw(st.lists(st.sampled_from(statuses + ["bogus"]), max_size=8)):
        allowed = new in rules and (new == current or new in rules[current])
        try:
            check_transition(rules, current, new)
        except InvalidTransition:
            assert not allowed
        else:
            assert allowed
            current = new
