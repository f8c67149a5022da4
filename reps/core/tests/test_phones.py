import pytest
from django.core.exceptions import ValidationError

from reps.core.phones import normalize_phone


@pytest.mark.parametrize(
    "raw, region, expected",
    [
        ("+1 415 555 2671", None, "+14155552671"),
        ("415-555-2671", "US", "+14155552671"),
        ("(415) 555 2671", "US", "+14155552671"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("0044 20 7946 0958", "GB", "+442079460958"),
        ("030 901820", "DE", "+4930901820"),
    ],
)
def test_numbers_in_common_forms_become_e164(raw, region, expected):
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    "raw, region, message",
    [
        ("", "US", "Enter a phone number."),
        ("call me", "US", "call me is not a valid phone number for US"),
        ("12", "US", "12 is not a valid phone number for US"),
        ("415-555-2671", None, "415-555-2671 is not a valid phone number;"),
    ],
)
def test_invalid_numbers_are_refused_with_a_message(raw, region, message):
    with pytest.raises(ValidationError) as raised:
        normalize_phone(raw, region)

    assert raised.value.messages[0].startswith(message)
