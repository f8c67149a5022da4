"""The one base of every domain error: what a rule refused, as the API answers it (reps.core.errors).

A service or repository raises a subclass with a message; the API turns it
into its error shape with the class's HTTP status and code, plus any extra
fields given (an appointment conflict names the appointment in the way).
A 400 is a validation error keyed by `field` (non_field_errors when None).
"""

from typing import Any, ClassVar


class DomainError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "invalid"
    default_message: ClassVar[str] = "The request breaks a rule of the data."
    field: ClassVar[str | None] = None

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        self.message = message or self.default_message
        self.extra = extra
        super().__init__(self.message)
