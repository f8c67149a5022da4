"""Helpers for tests that prove the database itself refuses bad data."""

from contextlib import contextmanager

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction


@contextmanager
def refused_by_database(constraint):
    """The block fails with an IntegrityError naming `constraint`; the test's transaction survives."""
    with pytest.raises(IntegrityError) as raised:
        with transaction.atomic():
            yield
    assert constraint in str(raised.value), f"expected {constraint}, got: {raised.value}"


def validation_messages(instance, **full_clean_kwargs):
    """{field: [messages]} from instance.full_clean(); fails the test when it passes."""
    with pytest.raises(ValidationError) as raised:
        instance.full_clean(**full_clean_kwargs)
    return raised.value.message_dict
