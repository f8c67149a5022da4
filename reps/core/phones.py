"""Phone numbers are stored in E.164 (+14155550100), parsed with phonenumbers."""

import phonenumbers
from django.core.exceptions import ValidationError

# What the database accepts in a phone column: a plus, then 8 to 15 digits.
E164_REGEX = r"^\+[1-9][0-9]{7,14}$"


def normalize_phone(raw, region=None):
    """Return `raw` in E.164, or raise ValidationError with a message.

    `region` is the ISO country code used for numbers written without a
    country prefix (a gym's country); numbers starting with + or 00 ignore it.
    """
    text = (raw or "").strip()
    if not text:
        raise ValidationError("Enter a phone number.", code="required")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        where = f" for {region}" if region else ""
        raise ValidationError(
            "%(value)s is not a valid phone number%(where)s; enter it with its country code, like +1 415 555 0100.",
            code="invalid_phone",
            params={"value": text, "where": where},
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str) -> str:
    """An E.164 number as people read it (+1 212-555-0123); what does not parse is shown as stored."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
