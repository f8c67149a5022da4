"""JSON bodies that cannot take a worker down: nesting is bounded, and a bad body is a 400.

Python's json module parses up to about a thousand levels and then raises
RecursionError; code that walks what it parsed may recurse deeper still. A
body nested deeper than MAX_JSON_DEPTH (no request of the API or the voice
platform needs a tenth of it) is refused as a parse error, a 400 in the API's
error shape, before anything else reads it.
"""

import json
from typing import Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32


# Here, not in reps.core.errors: that imports DRF's views, whose settings import this module.
class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The body is larger than this API takes (API_MAX_BODY_BYTES); upload files as multipart."
    default_code = "too_large"


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (a scalar is 0); without recursion."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            pending.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return deepest


class DuplicateKey(ValueError):
    pass


def load_json(data: bytes | str) -> Any:
    """The JSON value of `data`; ParseError (a 400) when it is no JSON, repeats a key, or nests too deeply."""
    too_deep = ParseError(f"The JSON body is nested too deeply: at most {MAX_JSON_DEPTH} levels.")
    try:
        value = json.loads(data, parse_constant=json_constant, object_pairs_hook=object_without_repeats)
    except RecursionError:
        raise too_deep from None
    except DuplicateKey as error:
        raise ParseError(f"The key {error} appears twice in one object: which one was meant?") from None
    except json.JSONDecodeError as error:
        raise ParseError(f"The body is not JSON: {error.msg} at line {error.lineno}, column {error.colno}.") from None
    except ValueError:  # not UTF-8 text, NaN or Infinity, a number too long to read
        raise ParseError("The body is not JSON (or holds a value JSON has not: NaN, Infinity, a number of"
                         " thousands of digits).") from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise too_deep
    return value


def json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for key, item in pairs:
        if key in value:
            raise DuplicateKey(repr(key))
        value[key] = item
    return value


class BoundedJSONParser(JSONParser):
    """JSON bodies of at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes (a 413 beyond), nested at most MAX_JSON_DEPTH."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = stream.read(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
        if len(data) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise PayloadTooLarge()
        return load_json(data)
