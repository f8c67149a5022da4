"""Schemathesis against our own OpenAPI schema, in process, signed in as a gym's owner.

No request may give a 500, and every response must conform to the schema.
`make test` runs a short, repeatable run (3 examples per operation, the same every time);
`make fuzz` a long, random one (FUZZ_EXAMPLES per operation, default 100).
"""

import json
import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.tests.factories import RoleFactory, UserFactory, api_token
from reps.wsgi import application

# Without FUZZ_EXAMPLES (the test suite): a few examples, derandomized so that CI is repeatable.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 3))
REPEATABLE = "FUZZ_EXAMPLES" not in os.environ



def generated_schema():
    """The schema /api/schema/ serves, generated in process: pytest collects this module before any database."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document))


schema = schemathesis.openapi.from_dict(generated_schema()).exclude(
    # These would sign the fuzzing user out (or change its password) half-way.
    path_regex=r"auth/(logout|token/rotate)|users/\{id\}"
)
schema.app = application


@pytest.fixture
def owner_token(db, add_one_of_everything):
    from gyms.tests.factories import GymFactory

    gym = GymFactory()
    add_one_of_everything(gym)
    user = UserFactory(gym=gym, role=RoleFactory(name="owner"))
    return api_token(user)


@pytest.fixture(autouse=True)
def requests_inside_the_test_transaction():
    """The in-process requests share the test's connection, and its transaction, as Django's test client does.

    Django closes a connection at the start and end of each request when it
    is not in autocommit mode, which a test transaction never is.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=REPEATABLE,
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
