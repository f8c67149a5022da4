from collections.abc import Mapping, Sequence
from typing import Any

from .exceptions import DomainError


class InvalidTransition(DomainError, ValueError):
    """A status change that the status's rules do not allow: a 400 naming `status` in the API.

    Also a ValueError, the way plain Python callers catch bad arguments.
    """

    code = "invalid_transition"
    field = "status"


def check_transition(allowed: Mapping[Any, Sequence[str]], current: str, new: str, what: str = "status") -> None:
    """Raise InvalidTransition unless `current` may become `new`; staying put is allowed.

    `allowed` maps each status to the statuses it may change to.
    """
    if new not in allowed:
        raise InvalidTransition(f"{new!r} is not a {what}; choose from {', '.join(allowed)}.")
    if new != current and new not in allowed[current]:
        raise InvalidTransition(f"The {what} cannot change from {current} to {new}; from {current} it can become"
                                f" {', '.join(allowed[current]) or 'nothing'}.")
