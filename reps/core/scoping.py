"""The current gym of a request or job, and the safety net built on it.

Explicit `Model.objects.for_gym(gym)` is how code reads tenant rows. Behind
it, this module keeps the gym that the running request or job works for in a
ContextVar, and a tenant model's default manager refuses to query when no
gym is current (django-scopes and PostHog fail closed the same way). So a
query that forgot its gym raises instead of reading every gym's rows.

- `gym_scope(gym)`: the request or job works for this gym; tenant queries
  are limited to it, and `for_gym(other)` finds nothing.
- `all_gyms()`: platform code (the admin, migrations, platform jobs) sees
  every gym. `Model.objects.unscoped()` does the same for one query.

Under it, PostgreSQL's row-level security keeps the same line
(reps/core/migrations/0002_row_level_security.py): `gym_scope(gym)` inside a
transaction also tells the database, with transaction-local settings, to act
as the application role for that gym, so that even a query with no gym
filter at all (raw SQL included) finds only that gym's rows. The settings
end with the transaction, so a pooled connection never carries the last
gym. `all_gyms()` changes nothing in the database: only a login that may
bypass row-level security (migrations, the platform admin) sees every gym.
"""

import uuid
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from .querysets import gym_id_of


class ScopeError(RuntimeError):
    """A tenant query ran with no current gym and no explicit for_gym()."""


# The sentinel for platform code that may see every gym.
ALL_GYMS = object()

_current_gym = ContextVar("reps_current_gym", default=None)


def current_gym_id():
    """The current gym's UUID, ALL_GYMS, or None when no scope is active."""
    return _current_gym.get()


def activate(gym_or_id):
    """Enter a gym's scope until deactivate(token); for code that cannot use a with block.

    Only the Python side: the caller also calls set_transaction_gym().
    """
    return _current_gym.set(gym_id_of(gym_or_id))


def deactivate(token):
    _current_gym.reset(token)


@contextmanager
def gym_scope(gym_or_id):
    """Work for this gym: tenant queries need no gym, and in a transaction the database sees only its rows."""
    gym_id = gym_id_of(gym_or_id)
    token = _current_gym.set(gym_id)
    replaced = set_transaction_gym(gym_id)
    try:
        yield
    except BaseException:
        replaced = None  # the transaction is rolling back, and its settings with it
        raise
    finally:
        _current_gym.reset(token)
        restore_transaction_gym(replaced)


def set_transaction_gym(gym_id):
    """Make the open transaction act as the application role for this gym (None: for no gym, seeing nothing).

    Row-level security then hides every other gym's rows from it. Both
    settings are transaction-local (set_config(..., true)). Outside a
    transaction this does nothing and returns None; inside one, it returns
    the settings it replaced, for restore_transaction_gym(). Nor does it act
    in the platform admin's requests, which work as the platform login.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    if not connection.in_atomic_block or on_platform_database():
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('role'), coalesce(current_setting('reps.gym_id', true), ''),"
            " set_config('role', %s, true), set_config('reps.gym_id', %s, true)",
            [settings.DATABASE_APP_ROLE, str(gym_id or "")],
        )
        role, gym, _, _ = cursor.fetchone()
    connection.reps_transaction_gym = gym_id
    return role, gym


def set_transaction_gym_of(question, value):
    """set_transaction_gym(gym_of(question, value)) in one round trip; returns that gym's id, or None."""
    connection = connections[DEFAULT_DB_ALIAS]
    if not connection.in_atomic_block or on_platform_database():
        return gym_of(question, value)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT gym, set_config('role', %s, true), set_config('reps.gym_id', coalesce(gym::text, ''), true)"
            f" FROM {GYM_QUESTIONS[question]}(%s) AS gym",
            [settings.DATABASE_APP_ROLE, value],
        )
        gym_id = cursor.fetchone()[0]
    connection.reps_transaction_gym = gym_id
    return gym_id


def transaction_gym():
    """The gym this process last set for the connection's transaction (set_transaction_gym...)."""
    return getattr(connections[DEFAULT_DB_ALIAS], "reps_transaction_gym", None)


def restore_transaction_gym(replaced):
    """Put back what set_transaction_gym() replaced, when the transaction goes on (a test's, a caller's)."""
    connection = connections[DEFAULT_DB_ALIAS]
    if replaced is None or not connection.in_atomic_block or connection.needs_rollback:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('role', %s, true), set_config('reps.gym_id', %s, true)", list(replaced))
    connection.reps_transaction_gym = uuid.UUID(replaced[1]) if replaced[1] else None


def gym_of(question, value):
    """Which gym a token, login email, user id, voice-platform call id or phone number belongs to, or None.

    Asked before any gym is known, through the database's SECURITY DEFINER
    functions (see the row-level security migration): they answer with a
    gym id and nothing else.
    """
    function = GYM_QUESTIONS[question]
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [value])
        return cursor.fetchone()[0]


GYM_QUESTIONS = {
    "token": "reps_gym_of_token",
    "login": "reps_gym_of_login",
    "user": "reps_gym_of_user",
    "platform_call": "reps_gym_of_platform_call",
    "phone": "reps_gym_of_phone",
}


# The platform admin's requests read and write through the login that may
# bypass row-level security (reps.core.db.PlatformRouter).
_platform_database = ContextVar("reps_platform_database", default=False)


def on_platform_database():
    return _platform_database.get()


@contextmanager
def platform_database():
    token = _platform_database.set(True)
    try:
        yield
    finally:
        _platform_database.reset(token)


@contextmanager
def all_gyms():
    token = _current_gym.set(ALL_GYMS)
    try:
        yield
    finally:
        _current_gym.reset(token)
