"""Query timing, the slow-query log, request ids, /metrics, /healthz, /livez, request transactions."""

import json
import logging
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from leads.models import Lead
from leads.tests.factories import LeadFactory
from leads.views import LeadViewSet
from reps.tenancy.state import current_gym_id

pytestmark = pytest.mark.django_db


def sample(name, labels=None):
    return REGISTRY.get_sample_value(name, labels or {}) or 0


def a_slow_repository_read():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [0.05])


def test_a_slow_query_is_logged_with_its_origin_and_counted(caplog, settings):
    settings.SLOW_QUERY_MS = 30
    slow_before = sample("reps_db_slow_queries_total")
    queries_before = sample("reps_db_queries_total")

    with caplog.at_level(logging.WARNING, logger="reps.sql"):
        a_slow_repository_read()
        Lead.objects.unscoped().exists()  # fast: not logged

    records = [record for record in caplog.records if record.name == "reps.sql"]
    assert len(records) == 1
    record = records[0]
    assert record.duration_ms >= 50
    assert "test_observability.py" in record.origin and "a_slow_repository_read" in record.origin
    assert record.sql == "SELECT pg_sleep(%s)"  # parameters left out
    assert sample("reps_db_slow_queries_total") == slow_before + 1
    assert sample("reps_db_queries_total") >= queries_before + 2


def test_slow_queries_of_a_request_carry_its_view_and_request_id_but_no_values(api, gym, caplog, settings):
    LeadFactory(gym=gym, first_name="Zelda")
    settings.SLOW_QUERY_MS = 0  # every statement counts as slow here

    with caplog.at_level(logging.WARNING, logger="reps.sql"):
        response = api.get("/api/v1/leads/?search=Zelda", HTTP_X_REQUEST_ID="trace-42")

    assert response["X-Request-ID"] == "trace-42"
    lines = [record for record in caplog.records if record.name == "reps.sql"]
    assert lines and all(record.request_id == "trace-42" for record in lines)
    assert any(record.origin.startswith("v1:lead-list (") for record in lines)
    assert not any("Zelda" in record.getMessage() for record in lines)


def test_every_response_has_a_request_id_and_bad_ones_are_replaced(client):
    fresh = client.get("/livez")
    unsafe = client.get("/livez", HTTP_X_REQUEST_ID="x" * 200)

    assert len(fresh["X-Request-ID"]) == 32
    assert unsafe["X-Request-ID"] != "x" * 200


def test_metrics_parse_and_have_every_family(client, api, gym):
    api.get("/api/v1/leads/")
    api.get("/api/v1/leads/stats/")
    api.get("/api/v1/leads/stats/")  # a cache hit

    response = client.get("/metrics")

    assert response.status_code == 200
    families = {family.name: family for family in text_string_to_metric_families(response.content.decode())}
    for name in ["reps_http_requests", "reps_http_request_duration_seconds", "reps_db_queries",
                 "reps_db_query_duration_seconds", "reps_db_slow_queries", "reps_cache_hits", "reps_cache_misses",
                 "reps_cache_errors", "reps_db_pool_size", "reps_db_pool_in_use", "reps_db_pool_waiting"]:
        assert name in families, name
    requests = {(s.labels["view"], s.labels["status"]) for s in families["reps_http_requests"].samples}
    assert ("v1:lead-list", "200") in requests
    assert any(s.labels.get("namespace") == "lead_stats" and s.value >= 1 for s in families["reps_cache_hits"].samples)


def test_healthz_reports_each_part(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy" and body["failing"] == []
    assert body["checks"]["database"]["ok"] and body["checks"]["database"]["ms"] >= 0
    assert body["checks"]["migrations"] == {"ok": True, "unapplied": 0}
    assert set(body["checks"]["pool"]) == {"size", "in_use", "waiting", "max_size"}
    assert body["checks"]["cache"]["ok"]


def test_healthz_fails_when_the_database_does_not_believe_the_servers_gym_proofs(client, settings):
    """SECRET_KEY changed since the last migrate: no request would see any gym's rows."""
    assert client.get("/healthz").json()["checks"]["gym_context"]["ok"]
    settings.SECRET_KEY = "another-" + "k" * 50

    response = client.get("/healthz")

    assert response.status_code == 503 and response.json()["failing"] == ["gym_context"]
    assert "run migrate with this SECRET_KEY" in response.json()["checks"]["gym_context"]["error"]


def test_healthz_warns_when_the_pool_is_nearly_used_up(client, monkeypatch):
    from reps.core import views

    monkeypatch.setattr(views, "pool_stats", lambda: {"size": 10, "in_use": 9, "waiting": 3, "max_size": 10})

    body = client.get("/healthz").json()

    assert "High connection pool usage" in body["warnings"]
    assert body["status"] == "healthy"


def test_livez_touches_nothing(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/livez").json() == {"status": "alive"}


def test_a_request_that_fails_half_way_leaves_no_rows_behind(api, gym, monkeypatch):
    def create_then_fail(self, serializer):
        Lead.objects.create(gym_id=gym.pk, first_name="Half", last_name="Way", phone="+12125550199")
        raise RuntimeError("the request broke after writing")

    monkeypatch.setattr(LeadViewSet, "perform_create", create_then_fail)
    api.raise_request_exception = False

    response = api.post("/api/v1/leads/", {"first_name": "A", "last_name": "B", "phone": "+12125550198"},
                        format="json")

    assert response.status_code == 500
    assert not Lead.objects.for_gym(gym).exists()
    assert current_gym_id() is None  # the failed request's gym scope ended with it


def test_production_logs_are_json_lines_with_the_request_id():
    env = {**os.environ, "REPS_ENV": "production", "SECRET_KEY": "k" * 60, "ALLOWED_HOSTS": "testserver",
           "SECURE_SSL_REDIRECT": "0"}
    code = "import logging; logging.getLogger('reps.sql').warning('slow query', extra={'duration_ms': 12.5})"
    result = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", code], env=env,
                            cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60)

    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["level"] == "WARNING" and line["logger"] == "reps.sql" and line["duration_ms"] == 12.5
    assert line["request_id"] == "-"


def test_a_value_the_database_refuses_as_data_is_a_400_and_writes_nothing(api, gym, monkeypatch):
    def create_then_refused(self, serializer):
        Lead.objects.create(gym_id=gym.pk, first_name="Half", last_name="Way", phone="+12125550199")
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::text", ["a\x00b"])  # PostgreSQL text cannot hold a NUL character

    monkeypatch.setattr(LeadViewSet, "perform_create", create_then_refused)

    response = api.post("/api/v1/leads/", {"first_name": "A", "last_name": "B", "phone": "+12125550198"},
                        format="json")

    assert response.status_code == 400 and "NUL" in response.json()["errors"]["non_field_errors"][0]
    assert not Lead.objects.for_gym(gym).exists()


def test_metrics_answer_only_the_scraper(client, settings):
    assert client.get("/metrics").status_code == 200  # from 127.0.0.1, allowed by default
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 404
    # Behind the proxy every request connects from 127.0.0.1: the client is the one the proxy names.
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 404
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 200
    settings.TRUSTED_PROXIES = []

    settings.METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 404  # with a token set, the address alone is not enough
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200


def test_invented_http_methods_add_no_series(client):
    def series():
        return client.get("/metrics").content.decode().count("reps_http_requests_total{")

    before = series()
    for n in range(30):
        client.generic(f"BREW{n}", "/livez")
    assert series() <= before + 3  # the /metrics requests themselves, and one series for "other"
