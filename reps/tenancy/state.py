"""The gym the running request or job works for, on the Python side. Imports nothing of the project.

- `current_gym_id()`: the current gym's UUID, `ALL_GYMS` in platform code, or None.
- `activate(gym)` / `deactivate(token)`: enter and leave a gym's scope where a with block cannot be used
  (the API base does, around a request). Only the Python side: `database.gym_scope()` also tells the
  database.
- `all_gyms()`: platform code (the admin, migrations, platform jobs) sees every gym.
- `platform_database()`: the platform admin's requests read and write through the login that may bypass
  row-level security (`database.PlatformRouter`).
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, Final


class ScopeError(RuntimeError):
    """Tenant data was asked for outside its gym's scope: no current gym, another gym's, or no transaction."""


class _AllGyms:
    def __repr__(self) -> str:
        return "ALL_GYMS"


# The current "gym" of platform code that may see every gym.
ALL_GYMS: Final = _AllGyms()

GymScope = uuid.UUID | _AllGyms | None

_current_gym: ContextVar[GymScope] = ContextVar("reps_current_gym", default=None)
_platform_database: ContextVar[bool] = ContextVar("reps_platform_database", default=False)


def gym_id_of(gym_or_id: Any) -> uuid.UUID:
    """The gym's UUID from a Gym, a UUID or its string; never None.

    A missing gym is an error, not "every gym": scoping fails closed.
    """
    if gym_or_id is None:
        raise ValueError("A gym is required to scope this query.")
    if isinstance(gym_or_id, uuid.UUID):
        return gym_or_id
    if isinstance(gym_or_id, str):
        return uuid.UUID(gym_or_id)  # ValueError when malformed
    gym_id = getattr(gym_or_id, "pk", None)
    if not isinstance(gym_id, uuid.UUID):
        raise ValueError(f"Cannot scope a query to {gym_or_id!r}: not a gym.")
    return gym_id


def current_gym_id() -> GymScope:
    """The current gym's UUID, ALL_GYMS, or None when no scope is active."""
    return _current_gym.get()


def activate(gym_or_id: Any) -> Token[GymScope]:
    """Enter a gym's scope until deactivate(token)."""
    return _current_gym.set(gym_id_of(gym_or_id))


def deactivate(token: Token[GymScope]) -> None:
    _current_gym.reset(token)


@contextmanager
def python_gym_scope(gym_id: uuid.UUID) -> Iterator[None]:
    token = _current_gym.set(gym_id)
    try:
        yield
    finally:
        _current_gym.reset(token)


@contextmanager
def all_gyms() -> Iterator[None]:
    token = _current_gym.set(ALL_GYMS)
    try:
        yield
    finally:
        _current_gym.reset(token)


def on_platform_database() -> bool:
    return _platform_database.get()


@contextmanager
def platform_database() -> Iterator[None]:
    token = _platform_database.set(True)
    try:
        yield
    finally:
        _platform_database.reset(token)
