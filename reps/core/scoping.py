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
"""

from contextlib import contextmanager
from contextvars import ContextVar

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
    """Enter a gym's scope until deactivate(token); for code that cannot use a with block."""
    return _current_gym.set(gym_id_of(gym_or_id))


def deactivate(token):
    _current_gym.reset(token)


@contextmanager
def gym_scope(gym_or_id):
    token = _current_gym.set(gym_id_of(gym_or_id))
    try:
        yield
    finally:
        _current_gym.reset(token)


@contextmanager
def all_gyms():
    token = _current_gym.set(ALL_GYMS)
    try:
        yield
    finally:
        _current_gym.reset(token)
