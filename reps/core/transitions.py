from django.core.exceptions import ValidationError


class InvalidTransition(ValidationError, ValueError):
    """A status change that the status's rules do not allow.

    Both a ValidationError (the API answers 400 with a message) and a
    ValueError (plain Python callers catch bad arguments that way).
    """


def check_transition(allowed, current, new, what="status"):
    """Raise InvalidTransition unless `current` may become `new`; staying put is allowed.

    `allowed` maps each status to the statuses it may change to.
    """
    if new not in allowed:
        raise InvalidTransition(
            "%(new)r is not a %(what)s; choose from %(choices)s.",
            code="invalid_choice",
            params={"new": new, "what": what, "choices": ", ".join(allowed)},
        )
    if new != current and new not in allowed[current]:
        raise InvalidTransition(
            "A %(what)s cannot change from %(current)s to %(new)s; from %(current)s it can become %(next)s.",
            code="invalid_transition",
            params={"what": what, "current": current, "new": new, "next": ", ".join(allowed[current]) or "nothing"},
        )
