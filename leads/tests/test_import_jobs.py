"""Imports as jobs: a big upload is a LeadImport that a real Celery worker (its broker the real Redis) imports.

POST /api/v1/leads/import/ of a file of more than LEAD_IMPORT_ASYNC_ROWS data rows answers 202 with the job;
GET /api/v1/leads/imports/{id}/ shows its progress and, once done, its per-row report. A job runs once however
often its task is delivered, a running job whose worker died is taken over, and a job the broker never got
(it was down) is started by the sweep.
"""

import datetime
import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import RoleFactory, UserFactory
from leads import imports, tasks
from leads.imports import queue_import, run_import_job
from leads.models import Lead, LeadImport
from leads.tests.factories import LeadFactory
from reps.celery import app

pytestmark = pytest.mark.django_db(transaction=True)  # the worker reads what the test committed

ASYNC_ROWS = 50


@pytest.fixture(autouse=True)
def small_threshold(settings):
    settings.LEAD_IMPORT_ASYNC_ROWS = ASYNC_ROWS


@pytest.fixture
def worker():
    """Four worker threads, from an emptied queue."""
    app.control.purge()
    with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=60):
        yield
    app.control.purge()


def manager_of(api_client_for, gym, role="manager"):
    return api_client_for(UserFactory(gym=gym, role=RoleFactory(name=role)))


def csv_text(rows, bad_every=0, first=0):
    """A file of `rows` data rows (every `bad_every`-th with a bad phone); (text, the bad rows' line numbers)."""
    lines, bad = ["First Name,Last Name,Phone,Email"], []
    for n in range(rows):
        if bad_every and n % bad_every == 0:
            lines.append(f"Bad{n},Row,not-a-phone,")
            bad.append(n + 2)
        else:
            lines.append(f"First{n},Last{n},212-555-{first + n:04d},lead{first + n}@example.com")
    return "\n".join(lines) + "\n", bad


def upload(client, text, **data):
    return client.post("/api/v1/leads/import/", {"file": SimpleUploadedFile("big.csv", text.encode()), **data},
                       format="multipart")


def wait_for(condition, seconds=60):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, "the worker did not finish in time"
        time.sleep(0.05)
    return found


def job_row(pk):
    return LeadImport.objects.unscoped().get(pk=pk)


def finished(pk):
    return job_row(pk).status in ("done", "failed")


def test_a_big_upload_is_a_job_that_the_worker_imports_with_a_report_of_its_bad_lines(
        api_client_for, gym, other_gym, worker):
    LeadFactory(gym=other_gym, phone="+12125550001", email="")  # gym B's lead is no duplicate of gym A's row
    LeadFactory(gym=gym, phone="+12125550002", email="")  # gym A's is: skipped
    text, bad_lines = csv_text(120, bad_every=10)
    client = manager_of(api_client_for, gym)

    response = upload(client, text)

    assert response.status_code == 202, response.content
    job = response.json()
    assert job["status"] == "queued" and job["rows_total"] == 120 and job["file_name"] == "big.csv"
    assert response.headers["Location"] == job["url"] == f"http://testserver/api/v1/leads/imports/{job['id']}/"
    assert "text" not in job and "First1" not in response.content.decode()
    wait_for(lambda: finished(job["id"]))

    shown = client.get(f"/api/v1/leads/imports/{job['id']}/").json()
    assert shown["status"] == "done", shown
    good = 120 - len(bad_lines)
    assert (shown["rows_processed"], shown["created"], shown["skipped"], shown["updated"], shown["error_rows"]) == (
        120, good - 1, 1, 0, len(bad_lines))
    assert [error["line"] for error in shown["report"]["errors"]] == bad_lines
    assert shown["report"]["errors"][0]["errors"].keys() == {"phone"}
    assert shown["report"]["complete"] is True and shown["report"]["errors_truncated"] is False
    assert shown["started_at"] and shown["finished_at"] and shown["created_by"]
    assert "text" not in shown and "First1," not in str(shown)
    # The leads are gym A's; gym B has only its own.
    assert Lead.objects.unscoped().filter(gym=gym).count() == good
    assert list(Lead.objects.unscoped().filter(gym=other_gym).values_list("phone", flat=True)) == ["+12125550001"]
    assert LeadImport.objects.unscoped().get(pk=job["id"]).gym_id == gym.pk


def test_another_gyms_job_is_missing_and_absent_from_its_list(api_client_for, gym, other_gym):
    text, _ = csv_text(60)
    theirs = queue_import(gym=other_gym, text=text, rows_total=60)
    mine = queue_import(gym=gym, text=text, rows_total=60)
    client = manager_of(api_client_for, gym, role="owner")

    assert client.get(f"/api/v1/leads/imports/{theirs.pk}/").status_code == 404
    assert client.get(f"/api/v1/leads/imports/{uuid.uuid4()}/").status_code == 404
    assert client.get("/api/v1/leads/imports/not-an-id/").status_code == 404
    listed = client.get("/api/v1/leads/imports/").json()
    assert [row["id"] for row in listed["results"]] == [str(mine.pk)]
    assert client.get(f"/api/v1/leads/imports/{mine.pk}/").json()["report"] is None


def test_import_jobs_are_for_owners_and_managers_only(api_client_for, gym):
    text, _ = csv_text(60)
    job = queue_import(gym=gym, text=text, rows_total=60)
    sales = manager_of(api_client_for, gym, role="sales")

    assert sales.get("/api/v1/leads/imports/").status_code == 403
    assert sales.get(f"/api/v1/leads/imports/{job.pk}/").status_code == 403
    assert upload(sales, text).status_code == 403
    assert not Lead.objects.unscoped().exists()


def test_progress_shows_while_the_job_runs(api_client_for, gym, worker, settings, monkeypatch):
    settings.LEAD_IMPORT_BATCH_SIZE = 10
    write_batch = imports._write_batch

    def slow_batch(*args, **kwargs):
        write_batch(*args, **kwargs)
        time.sleep(0.15)

    monkeypatch.setattr(imports, "_write_batch", slow_batch)
    text, _ = csv_text(100)
    client = manager_of(api_client_for, gym)
    job = upload(client, text).json()
    seen = []

    def watch():
        shown = client.get(f"/api/v1/leads/imports/{job['id']}/").json()
        seen.append((shown["status"], shown["rows_processed"]))
        return shown["status"] == "done"

    wait_for(watch)

    midway = [rows for status, rows in seen if status == "running" and 0 < rows < 100]
    assert midway, seen
    assert midway == sorted(midway)  # it only grows
    assert seen[-1] == ("done", 100)


def test_a_job_delivered_twice_imports_once(api_client_for, gym, worker):
    text, _ = csv_text(200)
    client = manager_of(api_client_for, gym)
    job = upload(client, text).json()
    tasks.run_import.delay(str(gym.pk), job["id"])  # redelivered, or sent twice: both at once on two threads
    tasks.run_import.delay(str(gym.pk), job["id"])

    wait_for(lambda: finished(job["id"]))
    time.sleep(0.5)  # what the other threads still hold finds it done

    row = job_row(job["id"])
    assert (row.status, row.attempts, row.created_count, row.skipped_count) == ("done", 1, 200, 0)
    assert Lead.objects.unscoped().filter(gym=gym).count() == 200
    # Run again afterwards: nothing to do.
    assert tasks.run_import(str(gym.pk), job["id"]) == "not claimed"
    assert job_row(job["id"]).attempts == 1


def test_a_task_for_one_gym_finds_no_job_of_another(gym, other_gym):
    text, _ = csv_text(60)
    theirs = queue_import(gym=other_gym, text=text, rows_total=60)

    assert tasks.run_import(str(gym.pk), str(theirs.pk)) == "not claimed"
    assert job_row(theirs.pk).status == "queued" and not Lead.objects.unscoped().exists()


def test_a_small_upload_is_still_imported_at_once(api_client_for, gym):
    text, _ = csv_text(ASYNC_ROWS, bad_every=25)
    client = manager_of(api_client_for, gym)

    response = upload(client, text)

    assert response.status_code == 200
    assert response.json() == {"rows": ASYNC_ROWS, "created": ASYNC_ROWS - 2, "updated": 0, "skipped": 0,
                               "errors": response.json()["errors"], "complete": True}
    assert [error["line"] for error in response.json()["errors"]] == [2, 27]
    assert not LeadImport.objects.unscoped().exists()


def test_a_big_file_without_a_phone_column_is_refused_at_upload(api_client_for, gym):
    text = "name,email\n" + "".join(f"N{n},n{n}@example.com\n" for n in range(ASYNC_ROWS + 1))

    response = upload(manager_of(api_client_for, gym), text)

    assert response.status_code == 400 and "phone column" in response.json()["errors"]["non_field_errors"][0]
    assert not LeadImport.objects.unscoped().exists()


def test_a_big_file_of_more_rows_than_the_api_takes_is_refused_at_upload(api_client_for, gym, settings):
    settings.IMPORT_MAX_ROWS = 80
    text, _ = csv_text(81)

    response = upload(manager_of(api_client_for, gym), text)

    assert response.status_code == 400 and "more than 80 rows" in response.json()["errors"]["file"][0]
    assert not LeadImport.objects.unscoped().exists()


def stale_running_job(gym, text, rows, minutes_ago=20, attempts=1):
    job = queue_import(gym=gym, text=text, rows_total=rows)
    then = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    LeadImport.objects.unscoped().filter(pk=job.pk).update(
        status="running", claim=uuid.uuid4(), heartbeat_at=then, started_at=then, enqueued_at=then, attempts=attempts,
        rows_processed=10)
    return job


def test_a_running_job_whose_worker_died_is_taken_over_and_one_still_running_is_not(gym):
    text, _ = csv_text(60)
    # The dead worker had written part of the file already.
    imports.import_leads(gym=gym, text=csv_text(20)[0])
    stale = stale_running_job(gym, text, 60)
    alive = stale_running_job(gym, csv_text(60, first=1000)[0], 60, minutes_ago=1)

    assert tasks.run_import(str(gym.pk), str(alive.pk)) == "not claimed"
    assert tasks.run_import(str(gym.pk), str(stale.pk)) == "done"

    row = job_row(stale.pk)
    assert (row.status, row.attempts, row.created_count, row.skipped_count, row.rows_processed) == (
        "done", 2, 40, 20, 60)
    assert row.claim is None and row.finished_at is not None
    assert job_row(alive.pk).status == "running"
    assert Lead.objects.unscoped().filter(gym=gym).count() == 60


def test_a_run_that_lost_its_job_to_another_stops(gym, settings, monkeypatch):
    settings.LEAD_IMPORT_BATCH_SIZE = 10
    text, _ = csv_text(60)
    job = queue_import(gym=gym, text=text, rows_total=60)
    write_batch = imports._write_batch
    batches = []

    def taken_over_after_the_first_batch(*args, **kwargs):
        write_batch(*args, **kwargs)
        batches.append(1)
        LeadImport.objects.unscoped().filter(pk=job.pk).update(claim=uuid.uuid4())  # another run's claim

    monkeypatch.setattr(imports, "_write_batch", taken_over_after_the_first_batch)
    assert run_import_job(gym=gym, job_id=job.pk) == "not claimed"

    assert len(batches) == 1 and job_row(job.pk).status == "running"  # left to the run that holds it


def test_a_job_that_keeps_dying_is_failed_after_its_last_attempt(gym, settings):
    settings.LEAD_IMPORT_MAX_ATTEMPTS = 3
    job = stale_running_job(gym, csv_text(60)[0], 60, attempts=3)

    assert tasks.run_import(str(gym.pk), str(job.pk)) == "not claimed"

    row = job_row(job.pk)
    assert row.status == "failed" and "stopped 3 times" in row.error and row.finished_at is not None


def test_a_file_that_cannot_be_read_to_its_end_fails_the_job(gym):
    text = csv_text(60)[0] + '"' + "x" * 200_000 + '",212-555-0999,,\n'
    job = queue_import(gym=gym, text=text, rows_total=61)

    assert tasks.run_import(str(gym.pk), str(job.pk)) == "failed"

    row = job_row(job.pk)
    assert row.status == "failed" and "cannot be read" in row.error


def test_an_unexpected_error_queues_the_job_again_for_the_sweep(gym, monkeypatch):
    job = queue_import(gym=gym, text=csv_text(60)[0], rows_total=60)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(imports, "_write_batch", broken)
    with pytest.raises(RuntimeError):
        tasks.run_import(str(gym.pk), str(job.pk))

    row = job_row(job.pk)
    assert (row.status, row.enqueued_at, row.claim, row.attempts) == ("queued", None, None, 1)
    assert "disk full" in row.error
    sent = []
    monkeypatch.setattr(tasks.run_import, "apply_async", lambda args, **options: sent.append(args))
    assert tasks.start_gym_imports(str(gym.pk)) == 1  # the next sweep hands it over again
    assert sent == [(str(gym.pk), str(job.pk))]


@pytest.fixture
def broker_down(monkeypatch):
    """The broker is unreachable (nothing listens on its port) until the test calls the fixture's result."""
    def new_pools():  # the producers' pools are made again, for the broker's URL
        app._pool = None
        app.amqp._producer_pool = None

    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:9/0")
    monkeypatch.setattr(app.conf, "broker_write_url", "redis://127.0.0.1:9/0")
    new_pools()

    def back_up():
        monkeypatch.undo()
        new_pools()

    yield back_up
    back_up()


def test_a_job_the_broker_never_got_stays_queued_and_the_sweep_starts_it(api_client_for, gym, other_gym, broker_down):
    text, _ = csv_text(80)
    client = manager_of(api_client_for, gym)

    started = time.monotonic()
    response = upload(client, text)

    assert response.status_code == 202 and time.monotonic() - started < 2  # not waiting on the broker
    job = job_row(response.json()["id"])
    assert (job.status, job.enqueued_at) == ("queued", None)
    queue_import(gym=other_gym, text=text, rows_total=80)  # handed over a moment ago: not the sweep's
    broker_down()  # ... and back up

    app.control.purge()
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=60):
        assert tasks.start_queued_imports() == 1  # gym A only
        wait_for(lambda: finished(job.pk))
    app.control.purge()

    row = job_row(job.pk)
    assert (row.status, row.created_count) == ("done", 80)
    assert Lead.objects.unscoped().filter(gym=gym).count() == 80
    assert not Lead.objects.unscoped().filter(gym=other_gym).exists()


def test_the_sweep_takes_the_jobs_of_dead_workers_and_lost_tasks_but_not_those_on_their_way(gym, other_gym):
    text, _ = csv_text(60)
    waiting = queue_import(gym=gym, text=text, rows_total=60)  # handed over a moment ago
    lost = queue_import(gym=gym, text=text, rows_total=60)
    imports.not_enqueued(gym=gym, job_id=lost.pk)
    stale = stale_running_job(gym, text, 60)
    stale_running_job(other_gym, text, 60, minutes_ago=1)  # alive
    long_ago = queue_import(gym=other_gym, text=text, rows_total=60)
    LeadImport.objects.unscoped().filter(pk=long_ago.pk).update(
        enqueued_at=timezone.now() - datetime.timedelta(hours=1))

    from reps.tenancy.database import gyms_with_pending_imports

    assert sorted(gyms_with_pending_imports(timezone.now() - imports.stale_after())) == sorted([gym.pk, other_gym.pk])
    taken = imports.take_pending_imports(gym=gym)
    assert sorted(taken) == sorted([lost.pk, stale.pk]) and waiting.pk not in taken
    assert imports.take_pending_imports(gym=other_gym) == [long_ago.pk]
    assert imports.take_pending_imports(gym=gym) == []  # handed over now: not again until they go stale


def test_the_list_reads_the_same_number_of_statements_for_one_job_or_many(api_client_for, gym):
    client = manager_of(api_client_for, gym, role="owner")
    text, _ = csv_text(60)
    queue_import(gym=gym, text=text, rows_total=60)

    def statements():
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/v1/leads/imports/")
        assert response.status_code == 200
        return len(queries), response.json()

    few, _ = statements()
    for n in range(6):
        queue_import(gym=gym, text=text, rows_total=60, created_by=UserFactory(gym=gym, email=f"u{n}@gym-a.test"))
    many, listed = statements()

    assert many == few
    assert listed["count"] == 7 and len(listed["results"]) == 7
    assert all("report" not in row and "text" not in row for row in listed["results"])
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/v1/leads/imports/")
    assert not any('"text"' in query["sql"] for query in queries)  # the files are never read for a list


def test_the_api_docs_show_the_202_and_the_jobs(api_client_for, gym):
    schema = manager_of(api_client_for, gym).get("/api/schema/?format=json").json()

    assert "202" in schema["paths"]["/api/v1/leads/import/"]["post"]["responses"]
    assert "/api/v1/leads/imports/{id}/" in schema["paths"] and "/api/v1/leads/imports/" in schema["paths"]
    job = schema["components"]["schemas"]["LeadImportJobDetail"]["properties"]
    assert {"status", "rows_total", "rows_processed", "report"} <= set(job) and "text" not in job


def test_the_sweep_finds_and_takes_each_gyms_jobs_as_the_application_role(gym, other_gym):
    from reps.core.testing import as_application_role
    from reps.tenancy.database import gyms_with_pending_imports

    text, _ = csv_text(60)
    with as_application_role():
        mine = queue_import(gym=gym, text=text, rows_total=60)
        imports.not_enqueued(gym=gym, job_id=mine.pk)
        theirs = queue_import(gym=other_gym, text=text, rows_total=60)
        imports.not_enqueued(gym=other_gym, job_id=theirs.pk)

        found = gyms_with_pending_imports(timezone.now() - imports.stale_after())
        taken = {gym.pk: imports.take_pending_imports(gym=gym), other_gym.pk: imports.take_pending_imports(gym=other_gym)}
        outcome = run_import_job(gym=gym, job_id=mine.pk)

    assert sorted(found) == sorted([gym.pk, other_gym.pk])
    assert taken == {gym.pk: [mine.pk], other_gym.pk: [theirs.pk]}
    assert outcome == "done" and Lead.objects.unscoped().filter(gym=gym).count() == 60
    assert not Lead.objects.unscoped().filter(gym=other_gym).exists() and job_row(theirs.pk).status == "queued"


def test_the_jobs_page_by_number_or_cursor_and_render_in_the_browsable_api(api_client_for, gym):
    client = manager_of(api_client_for, gym, role="owner")
    text, _ = csv_text(60)
    jobs = [queue_import(gym=gym, text=text, rows_total=60) for _ in range(5)]

    first = client.get("/api/v1/leads/imports/?page_size=2").json()
    cursor = client.get("/api/v1/leads/imports/?pagination=cursor&page_size=3").json()
    rest = client.get(cursor["next"]).json()
    html = client.get(f"/api/v1/leads/imports/{jobs[0].pk}/", HTTP_ACCEPT="text/html")
    listing = client.get("/api/v1/leads/imports/", HTTP_ACCEPT="text/html")

    newest_first = [str(job.pk) for job in reversed(jobs)]
    assert first["count"] == 5 and [row["id"] for row in first["results"]] == newest_first[:2]
    assert [row["id"] for row in cursor["results"] + rest["results"]] == newest_first
    assert html.status_code == 200 and listing.status_code == 200
    assert client.get("/api/v1/leads/imports/?ordering=status").status_code == 200
    assert client.get("/api/v1/leads/imports/?status=done").status_code == 400  # no such filter


def test_platform_staff_see_every_gyms_jobs_in_the_admin_without_their_files(client, superuser, gym, other_gym):
    from django.urls import reverse

    from leads.tests.factories import LeadImportFactory

    client.force_login(superuser)
    changelist = reverse("admin:leads_leadimport_changelist")
    LeadImportFactory(gym=gym)

    def statements():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(changelist)
        assert response.status_code == 200
        return len(queries), response

    few, _ = statements()
    for _ in range(3):
        LeadImportFactory(gym=gym)
        LeadImportFactory(gym=other_gym)
    many, response = statements()
    job = LeadImportFactory(gym=other_gym, text="Name,Phone\nSecret Person,212-555-0199\n")
    page = client.get(reverse("admin:leads_leadimport_change", args=[job.pk]))

    assert many == few
    assert {row.gym_id for row in response.context["cl"].result_list} == {gym.pk, other_gym.pk}
    assert page.status_code == 200 and "Secret Person" not in page.content.decode()
    assert client.get(reverse("admin:leads_leadimport_add")).status_code == 403


def test_the_jobs_answer_a_token_and_a_session_as_the_application_role(api_client_for, gym, other_gym):
    from django.test import Client

    from reps.core.testing import as_application_role

    owner = UserFactory(gym=gym, role=RoleFactory(name="owner"))
    by_token, by_session = api_client_for(owner), Client()
    by_session.force_login(owner)
    text, _ = csv_text(60)
    mine, theirs = queue_import(gym=gym, text=text, rows_total=60), queue_import(gym=other_gym, text=text, rows_total=60)

    with as_application_role():
        answers = {(how, url): client.get(url).status_code for how, client in [("token", by_token),
                                                                               ("session", by_session)]
                   for url in ["/api/v1/leads/imports/", f"/api/v1/leads/imports/{mine.pk}/",
                               f"/api/v1/leads/imports/{theirs.pk}/"]}
        listed = by_token.get("/api/v1/leads/imports/").json()

    assert answers == {(how, url): 404 if str(theirs.pk) in url else 200 for how, url in answers}
    assert [row["id"] for row in listed["results"]] == [str(mine.pk)]
