"""The API's error responses in the OpenAPI schema (drf-spectacular postprocessing hook).

Every operation may answer with the one error shape of reps.core.errors:
400 (bad input, including unknown query parameters), 401, 403, 404, 409 and
415 (a body that is no JSON, form or multipart data it can read) for writes,
and 503 when the database is unavailable.
"""

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "description": "The error shape of every API error.",
    "properties": {
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "For validation errors: messages by field (non_field_errors for the rest).",
            # A list of messages; for a nested object (a gym's settings), its own field-keyed messages.
            "additionalProperties": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "object"}]},
        },
        "conflicting_appointment": {"type": "string", "format": "uuid", "nullable": True},
    },
    "required": ["status", "code", "detail"],
}
ERRORS = {
    "400": "Invalid input: a field, a query parameter or a value is wrong.",
    "401": "Not signed in, or the credentials are wrong.",
    "403": "Signed in, but not allowed to do this.",
    "404": "No such object in your gym (another gym's object answers the same).",
    "409": "The change conflicts with the data (or with a change made at the same moment).",
    "413": "The body is larger than this API takes.",
    "415": "The body's content type is not one this operation reads.",
    "503": "The database is unavailable; try again shortly.",
}
WRITE_ERRORS = {"409", "413", "415"}
READ_METHODS = {"get", "head", "options"}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                if status in WRITE_ERRORS and method in READ_METHODS:
                    continue
                responses.setdefault(status, {"description": description,
                                              "content": {"application/json": {"schema": reference}}})
    return result


GYM_TIME = ("Without an offset (2026-12-03T10:00:00), the time is read in the gym's time zone; times are answered"
            " in it, with its offset.")


def strict_request_bodies(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Request bodies take only their own fields (a field they do not take is a 400); times are the gym's."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
        for field in component.get("properties", {}).values():
            if field.get("format") == "date-time":
                field["description"] = f"{field.get('description', '')} {GYM_TIME}".strip()
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("schema", {}).get("format") == "date-time":
                    parameter["description"] = f"{parameter.get('description', '')} {GYM_TIME}".strip()
    return result
