"""One JSON shape for every API error.

    {"status": 400, "code": "invalid", "detail": "Invalid input.",
     "errors": {"phone": ["..."]}}

`errors` is present for validation errors, keyed by field ("non_field_errors"
for the rest). Django's ValidationError, every domain error
(reps.core.exceptions.DomainError: an invalid query, an appointment conflict)
and database integrity errors all come out this way, never as a 500.
"""

import logging
import uuid
from typing import Any

from django.core.exceptions import (
    NON_FIELD_ERRORS,
    ObjectDoesNotExist,
    PermissionDenied,
    RequestDataTooBig,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, DataError, IntegrityError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.fields import get_error_detail
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from reps.tenancy.database import connection_failed

from .constraints import constraint_info, constraint_name
from .exceptions import DomainError
from .parsers import PayloadTooLarge

logger = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the data."
    default_code = "conflict"

    def __init__(self, detail: Any = None, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail, code)
        self.extra = extra


class DomainRefusal(exceptions.APIException):
    """A DomainError other than a 400, in the API: its status, code, message and extra fields."""

    def __init__(self, error: DomainError) -> None:
        self.status_code = error.status_code
        super().__init__(error.message, error.code)
        self.extra = {name: str(value) if isinstance(value, uuid.UUID) else value for name, value in error.extra.items()}
        self.wait = error.extra.get("retry_after")  # DRF's handler sends it as Retry-After


# deadlock_detected, serialization_failure
CONCURRENCY_FAILURES = {"40P01", "40001"}

QUERY_CANCELED = "57014"  # statement_timeout


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is unavailable; try again in a moment."
    default_code = "service_unavailable"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Any:
    exc = _as_api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    body = {"status": response.status_code, "code": _code(exc), "detail": _message(exc)}
    if isinstance(exc, exceptions.ValidationError):
        body["errors"] = detail if isinstance(detail, dict) else {"non_field_errors": detail}
    body.update(getattr(exc, "extra", {}))
    response.data = body
    return response


def _as_api_exception(exc: Exception) -> Exception:
    if isinstance(exc, DjangoValidationError):
        detail = get_error_detail(exc)
        if isinstance(detail, dict) and NON_FIELD_ERRORS in detail:
            detail[api_settings.NON_FIELD_ERRORS_KEY] = detail.pop(NON_FIELD_ERRORS)
        return exceptions.ValidationError(detail)
    if isinstance(exc, DomainError):
        if exc.status_code == status.HTTP_400_BAD_REQUEST:
            return exceptions.ValidationError({exc.field or api_settings.NON_FIELD_ERRORS_KEY: [exc.message]})
        return DomainRefusal(exc)
    if isinstance(exc, IntegrityError):
        return _integrity_error(exc)
    if isinstance(exc, DataError):
        # A value PostgreSQL cannot take (a NUL character, a number or date out of range): the input's fault.
        logger.warning("Refused by the database as data: %s", exc)
        return exceptions.ValidationError(
            {"non_field_errors": ["A value of this request cannot be stored or compared (a NUL character, or out "
                                  "of range)."]})
    if isinstance(exc, DatabaseError) and connection_failed(exc):
        if getattr(exc.__cause__, "sqlstate", None) in CONCURRENCY_FAILURES:
            # Two transactions collided (a deadlock, a serialization failure): the request may be retried.
            return Conflict("The change collided with another made at the same moment; try again.", "conflict")
        if getattr(exc.__cause__, "sqlstate", None) == QUERY_CANCELED:
            logger.warning("A statement ran past STATEMENT_TIMEOUT_MS and was cancelled: %s", exc)
            return ServiceUnavailable("The request took longer than the database allows; narrow it and try again.",
                                      "timeout")
        logger.error("Database unavailable: %s", exc)
        return ServiceUnavailable()
    if isinstance(exc, (ObjectDoesNotExist, Http404)):
        return exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    return exc


def _integrity_error(exc: IntegrityError) -> exceptions.APIException:
    name = constraint_name(exc)
    field, message, kind = constraint_info().get(name, (None, None, None))
    if kind == "exclusion":
        return Conflict(message, "conflict")
    if kind in ("unique", "check", "same_gym"):
        return exceptions.ValidationError({field or "non_field_errors": [message]})
    logger.warning("Unmapped integrity error (%s): %s", name, exc)
    return Conflict("The change conflicts with existing data.", "conflict")


def _code(exc):
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    return codes if isinstance(codes, str) else getattr(exc, "default_code", "error")


def _message(exc):
    if isinstance(exc, exceptions.ValidationError):
        return "Invalid input."
    return str(exc.detail) if isinstance(exc, exceptions.APIException) else str(exc)


def not_found(request, exception=None):
    """JSON 404 for unknown API URLs (Django's handler404)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"status": 404, "code": "not_found", "detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"status": 500, "code": "server_error", "detail": "Server error."}, status=500)
    return defaults.server_error(request)
