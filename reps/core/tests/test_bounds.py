"""No one request can hold a worker: statements time out, id lists and bodies are bounded, imports are capped."""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.response import Response

from accounts.tests.factories import RoleFactory, UserFactory
from gyms.models import Gym
from leads.imports import BATCH_SIZE
from leads.models import Lead
from leads.tests.factories import LeadFactory
from leads.views import LeadViewSet

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(gym, api_client_for):
    return api_client_for(UserFactory(gym=gym, role=RoleFactory(name="manager")))


def test_a_statement_past_the_timeout_is_cancelled_and_answered_503_at_once(api, settings, monkeypatch):
    settings.STATEMENT_TIMEOUT_MS = 200

    def slow(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(5)")
        return Response({})

    monkeypatch.setattr(LeadViewSet, "list", slow)
    started = time.monotonic()
    response = api.get("/api/v1/leads/")

    assert (response.status_code, response.json()["code"]) == (503, "timeout")
    assert time.monotonic() - started < 2
    assert api.get("/api/v1/leads/dashboard/").status_code == 200  # the next request is fine


def test_ids_in_a_body_are_read_in_one_query_each_once_and_at_most_api_max_ids(manager, gym, settings):
    settings.API_MAX_IDS = 50
    Gym.objects.filter(pk=gym.pk).update(phone="+12125550100")  # a calling number, to queue calls from
    ids = [str(LeadFactory(gym=gym, consent_given_at=timezone.now()).pk) for _ in range(40)]

    def queue(leads):
        with CaptureQueriesContext(connection) as queries:
            response = manager.post("/api/v1/calls/queue/", {"leads": leads}, format="json")
        return response, len(queries)

    few, few_queries = queue(ids[:2])
    many, many_queries = queue(ids[2:])
    repeated, _ = queue([ids[0]] * 2_000)
    too_many, _ = queue(ids + [str(LeadFactory(gym=gym).pk) for _ in range(11)])

    assert (few.status_code, many.status_code) == (201, 201)
    assert many_queries == few_queries  # 38 ids cost what 2 do
    assert repeated.status_code == 400 and "At most 50 ids" in repeated.json()["errors"]["leads"][0]
    assert too_many.status_code == 400 and "At most 50 ids" in too_many.json()["errors"]["leads"][0]
    twice, _ = queue([ids[0], ids[0]])
    assert twice.status_code == 400 and "is given twice" in twice.json()["errors"]["leads"][0]


def test_a_body_larger_than_the_api_takes_is_a_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000

    response = api.post("/api/v1/leads/", '{"notes": "' + "x" * 2_000 + '"}', content_type="application/json")

    assert (response.status_code, response.json()["code"]) == (413, "too_large")


def test_an_import_of_more_rows_than_the_api_takes_is_refused_before_anything_is_written(manager, gym, settings):
    settings.IMPORT_MAX_ROWS = 100
    rows = "".join(f"Lead {n},+1212555{n:04d}\n" for n in range(101))
    upload = SimpleUploadedFile("leads.csv", ("Name,Phone\n" + rows).encode())

    response = manager.post("/api/v1/leads/import/", {"file": upload}, format="multipart")

    assert response.status_code == 400 and "more than 100 rows" in response.json()["errors"]["file"][0]
    assert not Lead.objects.for_gym(gym).exists()


def test_an_import_that_runs_out_of_time_says_where_it_stopped_and_a_second_send_finishes_it(manager, gym, settings):
    settings.IMPORT_MAX_SECONDS = 0  # out of time after the first batch
    rows = "".join(f"Lead {n},+1212555{n:04d}\n" for n in range(BATCH_SIZE + 1))

    def send():
        upload = SimpleUploadedFile("leads.csv", ("Name,Phone\n" + rows).encode())
        return manager.post("/api/v1/leads/import/", {"file": upload}, format="multipart").json()

    first = send()
    assert (first["complete"], first["created"], first["stopped_after_line"]) == (False, BATCH_SIZE, BATCH_SIZE + 1)
    assert "Send the file again" in first["detail"]
    settings.IMPORT_MAX_SECONDS = 20
    second = send()
    assert (second["complete"], second["created"], second["skipped"]) == (True, 1, BATCH_SIZE)
    assert Lead.objects.for_gym(gym).count() == BATCH_SIZE + 1
