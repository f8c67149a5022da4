"""Schemathesis against our own OpenAPI schema, in process, signed in as a gym's owner.

No request may give a 500, and every response must conform to the schema.
`make fuzz` runs it (FUZZ_EXAMPLES per operation, default 100). It lives outside the suite's
test paths: its requests commit on connections of their own, and the flush after it would
empty the roles table that the suite's other tests read.
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.tests.factories import RoleFactory, UserFactory
from reps.wsgi import application

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 100))

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).exclude(
    # These would sign the fuzzing user out (or change its password) half-way.
    path_regex=r"auth/(logout|token/rotate)|users/\{id\}"
)


@pytest.fixture
def owner_token(transactional_db, add_one_of_everything):
    from gyms.tests.factories import GymFactory

    gym = GymFactory()
    add_one_of_everything(gym)
    user = UserFactory(gym=gym, role=RoleFactory(name="owner"))
    return Token.objects.create(user=user).key


# Transactional: the requests run on connections of their own, so what they write is committed (and
# flushed after the test) rather than left inside a test transaction they cannot see.
@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_input_gives_a_server_error_and_responses_match_the_schema(case, owner_token):
    # What the issue asks of every response: no server error, and it matches the schema (status code,
    # content type, body). Whether the API is stricter than the schema's types (an id that is a valid
    # UUID but names nothing is a 400) is not a failure.
    case.call_and_validate(
        headers={"Authorization": f"Token {owner_token}"},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
