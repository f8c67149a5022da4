"""The OpenAPI schema, and the API docs served without any CDN."""

import json
import re

import pytest
from django.core.management import call_command
from django.urls import resolve

pytestmark = pytest.mark.django_db


def test_the_schema_passes_drf_spectaculars_validation_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    schema = (tmp_path / "schema.yaml").read_text()
    for path in ["/api/v1/leads/{id}/", "/api/v1/leads/prioritized/", "/api/v1/calls/{id}/status/",
                 "/api/v1/appointments/stats/", "/api/v1/auth/token/", "/api/v1/gym/", "/api/v1/knowledge-base/"]:
        assert f"{path}:" in schema
    assert "'409':" in schema  # appointment conflicts are documented
    # Every operation documents the error shape for 400, 401, 403, 404 and 503.
    call_command("spectacular", "--format", "openapi-json", "--file", str(tmp_path / "schema.json"))
    document = json.loads((tmp_path / "schema.json").read_text())
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert {"400", "401", "403", "404", "503"} <= set(map(str, operation["responses"])), (method, path)
    assert document["components"]["schemas"]["Error"]["required"] == ["status", "code", "detail"]


def test_schema_endpoint_serves_openapi_3(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


def test_the_docs_page_and_every_asset_it_references_come_from_the_app(client):
    page = client.get("/api/docs/")

    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html[:500]
    assert not [url for url in assets if url.startswith(("http://", "https://", "//"))]
    static = [url for url in assets if url.startswith("/static/")]
    assert any("swagger-ui" in url for url in static)
    for url in static:
        response = client.get(url)
        assert response.status_code == 200, url
        b"".join(response.streaming_content if response.streaming else [response.content])


def test_unknown_api_urls_are_json_404s(client):
    response = client.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response.json() == {"status": 404, "code": "not_found", "detail": "Not found."}


def test_the_schema_says_bodies_take_only_their_fields_and_times_are_the_gyms(client):
    document = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = document["components"]["schemas"]

    booking = components["AppointmentRequest"]
    assert booking["additionalProperties"] is False
    assert "read in the gym's time zone" in booking["properties"]["scheduled_time"]["description"]
    assert "status" not in booking["properties"]  # changed through its own action
    assert all(component.get("additionalProperties") is False
               for name, component in components.items() if name.endswith("Request"))
    after = next(parameter for parameter in document["paths"]["/api/v1/appointments/"]["get"]["parameters"]
                 if parameter["name"] == "scheduled_after")
    assert "read in the gym's time zone" in after["description"]


def test_the_schema_lists_exactly_the_query_parameters_each_operation_takes(client):
    """What the docs offer is what the view accepts: a documented parameter is no 400, an undocumented one is."""
    document = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    differences = {}
    for path, operations in document["paths"].items():
        if "get" not in operations:
            continue
        match = resolve(path.replace("{id}", "00000000-0000-0000-0000-000000000000"))
        view = match.func.cls(**getattr(match.func, "initkwargs", {}))
        view.action = getattr(match.func, "actions", {}).get("get")
        documented = {p["name"] for p in operations["get"].get("parameters", []) if p["in"] == "query"}
        if documented != view.allowed_query_params() - {"format"}:
            differences[path] = (sorted(documented), sorted(view.allowed_query_params() - {"format"}))
    assert differences == {}
