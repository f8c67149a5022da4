"""Cached repositories against a real Redis: never stale, never another gym's, O(1) invalidation, outages."""

import datetime
import json
import logging
import threading
import time

import pytest
from django.core.cache import cache, caches
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django_redis import get_redis_connection
from prometheus_client import REGISTRY

from accounts.tests.factories import UserFactory
from appointments.querysets import appointment_repository
from appointments.services import (
    book_appointment,
    reschedule_appointment,
    update_appointment_status,
)
from calls.models import CallLog
from calls.querysets import call_repository
from calls.services import update_call_status
from calls.tests.factories import CallLogFactory
from leads.models import Lead, LeadQualification
from leads.querysets import lead_repository
from leads.services import change_lead_status, create_lead, delete_lead, update_lead
from leads.tests.factories import LeadFactory
from reps.core.cache import cached_read, everything, health, invalidate
from reps.tenancy import services
from reps.tenancy.database import gym_scope, gym_transaction

pytestmark = pytest.mark.django_db

START = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)).replace(minute=0, second=0,
                                                                                    microsecond=0)
WIDE = ("2020-01-01", "2099-12-31")


@pytest.fixture(autouse=True)
def redis_cache(settings):
    assert type(caches["default"]).__module__.startswith("django_redis"), "run the tests with REDIS_URL set"
    settings.USE_CACHED_REPOSITORIES = True


def count(metric, namespace):
    return REGISTRY.get_sample_value(f"reps_cache_{metric}_total", {"namespace": namespace}) or 0


# --- never stale: every namespace, every service that affects it --------------------------------

def in_gym(read):
    """The read as a request makes it: in the gym's transaction, under row-level security."""
    def run(gym):
        with gym_transaction(gym):
            return read(gym)
    return run


READS = {
    "lead_stats": in_gym(lambda gym: lead_repository(gym).conversion_stats(*WIDE)),
    "prioritized_leads": in_gym(lambda gym: [(lead.pk, lead.status) for lead in lead_repository(gym).prioritized()]),
    "lead_dashboard": in_gym(lambda gym: lead_repository(gym).dashboard()),
    "call_metrics": in_gym(lambda gym: call_repository(gym).metrics(*WIDE)),
    "appointment_stats": in_gym(lambda gym: appointment_repository(gym).stats(*WIDE)),
}


def _lead(gym):
    return LeadFactory(gym=gym, status="contacted")


WRITES = {
    "create_lead": lambda gym, lead, staff: create_lead(
        gym=gym, data={"first_name": "N", "last_name": "L", "phone": "+12125559911"}),
    "update_lead": lambda gym, lead, staff: update_lead(gym=gym, lead_id=lead.pk, data={"status": "qualified"}),
    "change_lead_status": lambda gym, lead, staff: change_lead_status(gym=gym, lead_id=lead.pk, status="lost"),
    "delete_lead": lambda gym, lead, staff: delete_lead(gym=gym, lead_id=lead.pk),
    # Code that writes with a queryset's update() (the dispatcher marking a number do-not-call, say).
    "update_leads_in_bulk": lambda gym, lead, staff: Lead.objects.for_gym(gym).filter(pk=lead.pk).update(
        status="lost"),
    "qualify_lead": lambda gym, lead, staff: services.create(
        LeadQualification, gym=gym, data={"lead": lead, "score": 99}),
    "log_call": lambda gym, lead, staff: services.create(
        CallLog, gym=gym, data={"lead": lead, "start_time": START, "status": "completed", "outcome": "voicemail"}),
    "complete_call": lambda gym, lead, staff: update_call_status(
        gym=gym, call_id=lead.calls.get().pk, status="completed"),
    "book_appointment": lambda gym, lead, staff: book_appointment(
        gym=gym, lead=lead, staff=staff, scheduled_time=START + datetime.timedelta(hours=3), title="Tour"),
    "reschedule_appointment": lambda gym, lead, staff: reschedule_appointment(
        gym=gym, appointment_id=lead.appointments.get().pk, scheduled_time=START + datetime.timedelta(days=400)),
    "cancel_appointment": lambda gym, lead, staff: update_appointment_status(
        gym=gym, appointment_id=lead.appointments.get().pk, status="cancelled"),
}

# The seed's dependent invalidation: which writes make which namespace stale.
AFFECTS = {
    "lead_stats": ["create_lead", "update_lead", "change_lead_status", "delete_lead", "update_leads_in_bulk"],
    "prioritized_leads": ["create_lead", "update_lead", "change_lead_status", "delete_lead", "update_leads_in_bulk",
                          "qualify_lead", "log_call", "complete_call"],
    "lead_dashboard": ["create_lead", "update_lead", "change_lead_status", "delete_lead", "update_leads_in_bulk",
                       "book_appointment",
                       "reschedule_appointment", "cancel_appointment"],
    "call_metrics": ["log_call", "complete_call", "delete_lead"],
    "appointment_stats": ["book_appointment", "reschedule_appointment", "cancel_appointment", "delete_lead"],
}
CASES = [(namespace, write) for namespace, writes in AFFECTS.items() for write in writes]


@pytest.mark.parametrize("namespace, write", CASES, ids=[f"{n}-{w}" for n, w in CASES])
def test_a_cached_read_is_never_stale_after_a_write(gym, namespace, write, django_capture_on_commit_callbacks):
    staff = UserFactory(gym=gym)
    lead = _lead(gym)
    CallLogFactory(lead=lead, status="in_progress", start_time=START - datetime.timedelta(days=2))
    book_appointment(gym=gym, lead=lead, staff=staff, scheduled_time=START, title="Tour")
    read = READS[namespace]
    read(gym)
    hits = count("hits", namespace)
    read(gym)
    assert count("hits", namespace) == hits + 1  # the second read came from the cache

    with django_capture_on_commit_callbacks(execute=True), gym_scope(gym):
        WRITES[write](gym, lead, staff)
    misses = count("misses", namespace)
    after = read(gym)

    assert count("misses", namespace) == misses + 1, "the write did not invalidate the cached value"
    with override_plain_repositories():
        assert after == read(gym)  # what the database says now


def override_plain_repositories():
    return override_settings(USE_CACHED_REPOSITORIES=False)


def test_a_rolled_back_write_leaves_the_cache_as_it_was(gym, django_capture_on_commit_callbacks):
    LeadFactory(gym=gym)
    before = READS["lead_stats"](gym)
    hits = count("hits", "lead_stats")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            create_lead(gym=gym, data={"first_name": "N", "last_name": "L", "phone": "+12125559911"})
            raise RuntimeError("the request failed")

    assert callbacks == []
    assert READS["lead_stats"](gym) == before
    assert count("hits", "lead_stats") == hits + 1


def test_gyms_never_share_or_invalidate_each_others_values(gym, other_gym, django_capture_on_commit_callbacks):
    LeadFactory(gym=gym)
    for _ in range(3):
        LeadFactory(gym=other_gym)
    assert READS["lead_stats"](gym)["new"] == 1
    assert READS["lead_stats"](other_gym)["new"] == 3  # same arguments, its own value

    with django_capture_on_commit_callbacks(execute=True):
        create_lead(gym=gym, data={"first_name": "N", "last_name": "L", "phone": "+12125559911"})
    hits = count("hits", "lead_stats")

    assert READS["lead_stats"](other_gym)["new"] == 3
    assert count("hits", "lead_stats") == hits + 1  # gym B's value survived gym A's write
    assert READS["lead_stats"](gym)["new"] == 2


def test_a_lead_changed_by_a_deleted_branch_or_a_platform_update_is_not_served_from_the_cache(
        gym, django_capture_on_commit_callbacks):
    from gyms.models import Branch
    from gyms.tests.factories import BranchFactory
    from reps.tenancy.state import all_gyms

    lead = LeadFactory(gym=gym, branch=BranchFactory(gym=gym), status="contacted")
    read = in_gym(lambda gym: [(row.pk, row.branch_id, row.do_not_call) for row in lead_repository(gym).prioritized()])
    assert read(gym) == [(lead.pk, lead.branch_id, False)]

    with django_capture_on_commit_callbacks(execute=True):
        services.delete(Branch, gym=gym, object_id=lead.branch_id)  # the lead's branch is set to none
    assert read(gym) == [(lead.pk, None, False)]

    with django_capture_on_commit_callbacks(execute=True), all_gyms():  # platform code, no one gym
        Lead.objects.unscoped().filter(phone=lead.phone).update(do_not_call=True)
    assert read(gym) == [(lead.pk, None, True)]


def test_an_entry_cached_in_another_format_is_never_read_back(gym):
    lead = LeadFactory(gym=gym, status="contacted")
    # What the code before rows were cached stored under the same namespace: a list of ids.
    cached_read("prioritized_leads", gym.pk, {"limit": 20}, 60, lambda: [str(lead.pk)])

    assert READS["prioritized_leads"](gym) == [(lead.pk, "contacted")]


def test_cached_values_are_plain_json(gym):
    LeadFactory(gym=gym)
    READS["prioritized_leads"](gym)

    redis = get_redis_connection("default")
    keys = [key for key in redis.scan_iter("*repo:prioritized_leads:*") if not key.endswith(b":lock")]
    assert len(keys) == 1
    [[lead, qualification]] = json.loads(redis.get(keys[0]))  # a lead's columns, and its qualification's
    assert lead["id"] == str(LeadFactory._meta.model.objects.for_gym(gym).get().pk) and qualification is None


def test_a_reader_that_raced_a_write_cannot_cache_stale_data(gym):
    def stale_compute():
        # The database was read before the write committed; the invalidation lands meanwhile.
        invalidate(gym.pk, ["lead_stats"])
        return {"value": "old"}

    assert cached_read("lead_stats", gym.pk, ["race"], 60, stale_compute) == {"value": "old"}
    assert cached_read("lead_stats", gym.pk, ["race"], 60, lambda: {"value": "new"}) == {"value": "new"}


def test_one_recompute_at_a_time_per_key(gym):
    runs, results = [], []

    def slow_compute():
        runs.append(1)
        time.sleep(0.3)
        return {"total": 42}

    threads = [threading.Thread(target=lambda: results.append(cached_read("call_metrics", gym.pk, ["cold"], 60,
                                                                           slow_compute)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(runs) == 1
    assert results == [{"total": 42}] * 8


def _commands(redis):
    stats = redis.info("commandstats")
    return {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}


@pytest.mark.parametrize("cached_keys", [10, 100_000])
def test_invalidation_costs_the_same_whatever_is_cached(gym, cached_keys):
    redis = get_redis_connection("default")
    pipeline = redis.pipeline(transaction=False)
    for n in range(cached_keys):
        pipeline.set(cache.make_key(f"repo:lead_stats:{gym.pk}:0.0:{n:016x}"), "{}", ex=60)
    pipeline.execute()
    before = _commands(redis)

    invalidate(gym.pk, everything())

    after = _commands(redis)
    used = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    used.pop("info", None)
    assert used == {"incrby": len(everything())}  # no SCAN, no KEYS, no DEL


def test_the_operators_command_deletes_one_gyms_cached_values(gym, other_gym):
    for g in (gym, other_gym):
        LeadFactory(gym=g)
        READS["lead_stats"](g)
        READS["prioritized_leads"](g)
    redis = get_redis_connection("default")

    call_command("clear_cache", gym=str(gym.pk), stdout=open("/dev/null", "w"))

    remaining = [key.decode() for key in redis.scan_iter("*repo:*:*:*:*")]
    assert remaining and all(str(other_gym.pk) in key for key in remaining)


# --- outages --------------------------------------------------------------------------------------


@pytest.fixture
def redis_down(settings):
    """The cache points at a port where nothing listens, as when Redis is stopped."""
    location = caches["default"]._server
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    yield
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": location}}


def test_with_redis_down_the_api_answers_from_the_database(api, gym, redis_down, caplog):
    LeadFactory(gym=gym)
    errors = REGISTRY.get_sample_value("reps_cache_errors_total", {"operation": "read"}) or 0

    with caplog.at_level(logging.WARNING, logger="reps.cache"):
        started = time.monotonic()
        answers = [api.get("/api/v1/leads/stats/").json()["new"] for _ in range(20)]
        elapsed = time.monotonic() - started

    assert answers == [1] * 20
    assert api.get("/api/v1/leads/dashboard/").status_code == 200
    assert api.get("/api/v1/calls/metrics/").status_code == 200
    assert api.get("/api/v1/appointments/stats/").status_code == 200
    assert api.get("/api/v1/leads/prioritized/").status_code == 200
    # One failure opens the breaker: the rest skip Redis instead of waiting on it, and it is logged once.
    assert (REGISTRY.get_sample_value("reps_cache_errors_total", {"operation": "read"}) or 0) == errors + 1
    assert len([r for r in caplog.records if r.name == "reps.cache"]) == 1
    assert elapsed < 5


def test_writes_during_an_outage_do_not_leave_stale_values_behind(gym, settings, django_capture_on_commit_callbacks):
    LeadFactory(gym=gym)
    assert READS["lead_stats"](gym)["new"] == 1  # cached while Redis is up
    location = settings.CACHES["default"]["LOCATION"]
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    with django_capture_on_commit_callbacks(execute=True):
        create_lead(gym=gym, data={"first_name": "N", "last_name": "L", "phone": "+12125559911"})
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": location}}  # Redis is back
    health.down_until = 0  # the retry pause has passed

    assert READS["lead_stats"](gym)["new"] == 2
