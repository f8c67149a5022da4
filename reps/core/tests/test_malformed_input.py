"""Malformed input is a 400 in the error shape with a short log line, never a 500 with a traceback."""

import logging

import pytest

from reps.core.parsers import MAX_JSON_DEPTH, json_depth

pytestmark = pytest.mark.django_db


def nested(depth):
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 500, 5000, 100_000])
def test_json_nested_too_deeply_is_a_400_for_the_api_and_the_unsigned_webhook(api, client, depth, caplog):
    body = '{"first_name": ' + nested(depth) + "}"

    with caplog.at_level(logging.INFO):
        answers = [api.post("/api/v1/leads/", body, content_type="application/json"),
                   client.post("/api/v1/webhooks/voice/retell/", '{"event": "call_ended", "call": ' + nested(depth)
                               + "}", content_type="application/json")]

    for response in answers:
        assert response.status_code == 400
        assert response.json()["code"] == "parse_error"
        assert f"at most {MAX_JSON_DEPTH} levels" in response.json()["detail"]
    assert all(record.exc_info is None and len(record.getMessage()) < 300 for record in caplog.records)


def test_json_within_the_limit_is_read(api):
    response = api.post("/api/v1/leads/", '{"first_name": ' + nested(MAX_JSON_DEPTH - 1) + "}",
                        content_type="application/json")

    assert response.status_code == 400  # a list is no name; but the body was read and the field named
    assert "first_name" in response.json()["errors"]


def test_json_depth_counts_without_recursing():
    assert json_depth(1) == 0
    assert json_depth({"a": [1, {"b": []}]}) == 4
    deep: list = []
    for _ in range(19_999):
        deep = [deep]
    assert json_depth(deep) == 20_000


@pytest.mark.parametrize("body", ["{", "NaN", '{"a": Infinity}', "\xff\xfe"])
def test_a_body_that_is_no_json_is_a_400(api, body):
    response = api.post("/api/v1/leads/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
