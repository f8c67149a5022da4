"""The API's answers are the JSON DRF itself would write: the quick serializers and renderer change speed only."""

import datetime
import decimal
import uuid

import pytest
from django.utils.functional import lazy
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer as DRFJSONRenderer

from reps.core.renderers import JSONRenderer
from reps.core.serializers import StrictModelSerializer
from reps.urls import router

pytestmark = pytest.mark.django_db

ACTIONS = ["/api/v1/leads/prioritized/", "/api/v1/calls/upcoming/", "/api/v1/appointments/upcoming/"]


def every_answer(api):
    """The body of every list and action, and of the detail of every row those lists show."""
    bodies = {}
    for prefix, view, _ in router.registry:
        if not hasattr(view, "list"):
            continue
        url = f"/api/v1/{prefix}/"
        response = api.get(url)
        assert response.status_code == 200, (url, response.content[:300])
        bodies[url] = response.content
        for row in response.json()["results"]:
            detail = api.get(f"{url}{row['id']}/")
            assert detail.status_code == 200, (url, detail.content[:300])
            bodies[f"{url}{row['id']}/"] = detail.content
    for url in ACTIONS:
        bodies[url] = api.get(url).content
    return bodies


@pytest.mark.parametrize("time_zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_every_answer_is_the_json_drf_writes(api, gym, add_one_of_everything, monkeypatch, time_zone):
    gym.timezone = time_zone
    gym.save(update_fields=["timezone"])
    lead = add_one_of_everything(gym)
    add_one_of_everything(gym)
    type(lead)._base_manager.filter(pk=lead.pk).update(
        last_interaction=datetime.datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=datetime.UTC), email="")

    quick = every_answer(api)
    monkeypatch.setattr(StrictModelSerializer, "to_representation", serializers.ModelSerializer.to_representation)
    monkeypatch.setattr(JSONRenderer, "render", DRFJSONRenderer.render)
    drf = every_answer(api)

    assert len(quick) > 20
    assert quick == drf


def test_the_renderer_writes_drfs_bytes_for_anything_a_view_answers():
    data = {
        "moment": datetime.datetime(2026, 3, 1, 12, 0, 0, 120000, tzinfo=datetime.UTC),
        "local": datetime.datetime(2026, 3, 1, 7, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
        "day": datetime.date(2026, 3, 1), "time": datetime.time(9, 30), "span": datetime.timedelta(minutes=3),
        "money": decimal.Decimal("19.90"), "id": uuid.UUID(int=7), "lazy": lazy(lambda: "Hello", str)(),
        "text": "line\u2028separator\u2029and ünïcode", "numbers": [1, 2.5, -0.0, True, None], "tuple": (1, 2),
        1: "an integer key", "nested": {"list": [{"a": []}]},
    }
    assert JSONRenderer().render(data) == DRFJSONRenderer().render(data)
    assert JSONRenderer().render({"big": 2**70}) == DRFJSONRenderer().render({"big": 2**70})  # orjson's refusal
    assert JSONRenderer().render({"a": 1}, "application/json; indent=2") == DRFJSONRenderer().render(
        {"a": 1}, "application/json; indent=2")


def test_a_method_or_property_as_a_source_is_answered_as_drf_answers_it(gym, monkeypatch):
    from leads.models import Lead
    from leads.tests.factories import LeadFactory

    class Shown(StrictModelSerializer):
        status_label = serializers.CharField(source="get_status_display")
        region = serializers.CharField(source="phone_region", allow_null=True)

        class Meta:
            model = Lead
            fields = ["id", "status", "status_label", "region", "created_at"]

    lead = LeadFactory(gym=gym)
    quick = Shown(lead).data
    monkeypatch.setattr(StrictModelSerializer, "to_representation", serializers.ModelSerializer.to_representation)

    assert quick == Shown(lead).data and quick["status_label"] == "New"
