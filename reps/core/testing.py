"""Helpers for tests: the database refusing bad data, and the application's own login."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction


@contextmanager
def refused_by_database(constraint: str) -> Iterator[None]:
    """The block fails with an IntegrityError naming `constraint`; the test's transaction survives."""
    with pytest.raises(IntegrityError) as raised:
        with transaction.atomic():
            yield
    assert constraint in str(raised.value), f"expected {constraint}, got: {raised.value}"


def validation_messages(instance: Any, **full_clean_kwargs: Any) -> dict[str, list[str]]:
    """{field: [messages]} from instance.full_clean(); fails the test when it passes."""
    with pytest.raises(ValidationError) as raised:
        instance.full_clean(**full_clean_kwargs)
    return raised.value.message_dict


@contextmanager
def as_application_role() -> Iterator[None]:
    """The block runs as the application's own login: the role reps_app, outside any transaction.

    For tests marked django_db(transaction=True): what a job, a command or a
    request of the production server sees, row-level security and all. The
    test's own login (a superuser, which creates the test database) is back
    afterwards, to check what was written.
    """
    assert not connection.in_atomic_block, "use @pytest.mark.django_db(transaction=True)"
    if "pool" not in connection.settings_dict["OPTIONS"]:
        # Without Django's pool (behind PgBouncer, DB_POOL=0): log in as it, as the production server does. A
        # session's SET ROLE would not hold there: each transaction may get another server connection.
        user = connection.settings_dict["USER"]
        connection.close()
        connection.settings_dict["USER"] = settings.DATABASE_APP_ROLE
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict["USER"] = user
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {settings.DATABASE_APP_ROLE}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
