"""Importing a gym's existing leads from a CSV file (manage.py import_leads, POST /api/v1/leads/import/).

Common column names are understood (first/last/full name, email, phone or
mobile, source, tags, notes, consent, do-not-call). Phones are normalized with
the gym's country. A row whose phone or email the gym already has (or that
came earlier in the file) is a duplicate: skipped, or, with on_duplicate=
"update", used to update the existing lead. Bad rows are reported with their
line numbers and do not stop the others. Rows are written in batches, each in
its own transaction, so running the same file twice changes nothing the
second time.

A big file through the API is an import job instead (LeadImport, run by the task leads.run_import): see
"Import jobs" below. The command line imports in the foreground with a progress bar.
"""

import contextlib
import csv
import datetime
import io
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection
from django.db.models.functions import Lower
from django.utils import timezone

from gyms.models import Gym
from reps.core.cache import affected_by, invalidate_after
from reps.core.phones import normalize_phone
from reps.tenancy.database import gym_transaction
from reps.tenancy.services import create_row, gym_service

from .choices import ImportStatus, OnDuplicate
from .models import Lead, LeadImport, LeadTag, LeadTagAssignment

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
# An import that writes this many leads refreshes the planner's statistics (0.36 s at a million leads).
ANALYZE_AFTER_ROWS = 100
MAX_COLUMNS = 100  # a file of leads has a dozen; thousands would only cost every row's reading
MAX_TAGS = 50  # per lead
MAX_TAG_LENGTH = 50  # LeadTag.name
COLUMNS = {
    "first_name": ["first name", "firstname", "first", "given name", "forename"],
    "last_name": ["last name", "lastname", "last", "surname", "family name"],
    "full_name": ["name", "full name", "fullname", "contact name", "lead name"],
    "email": ["email", "e-mail", "email address", "mail"],
    "phone": ["phone", "mobile", "phone number", "mobile phone", "mobile number", "cell", "cell phone",
              "telephone", "tel"],
    "source": ["source", "lead source", "channel"],
    "tags": ["tags", "tag", "labels", "groups"],
    "notes": ["notes", "note", "comments", "comment"],
    "consent": ["consent", "consent to call", "agreed to calls", "opt in", "opted in"],
    "do_not_call": ["do not call", "dnc", "opted out", "opt out"],
}
TRUE = {"1", "yes", "y", "true", "t", "x"}
FALSE = {"", "0", "no", "n", "false", "f"}
UPDATABLE = ("first_name", "last_name", "email", "source", "notes")


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)  # [{"line": n, "errors": {field: [messages]}}]
    stopped_after_line: int | None = None  # out of time: the rows after this line were not read

    def as_dict(self) -> dict[str, Any]:
        report = {"rows": self.rows, "created": self.created, "updated": self.updated, "skipped": self.skipped,
                  "errors": self.errors, "complete": self.stopped_after_line is None}
        if self.stopped_after_line is not None:
            report["stopped_after_line"] = self.stopped_after_line
            report["detail"] = (f"The import ran out of time after line {self.stopped_after_line:,}: the rows after"
                                " it were not read. Send the file again to import them; the rows imported already"
                                " are found as duplicates.")
        return report


def _key(header: str | None) -> str:
    return re.sub(r"[\s_\-]+", " ", (header or "").strip().lower().lstrip("\ufeff"))


def column_map(headers: list[str] | Any) -> dict[str, str]:
    """{our field: the file's column} for the columns we recognise."""
    found = {}
    for header in headers:
        for name, aliases in COLUMNS.items():
            if _key(header) in {_key(alias) for alias in [name, *aliases]} and name not in found:
                found[name] = header
    if "phone" not in found:
        raise ValidationError(f"The file needs a phone column (one of: phone, mobile, ...); it has: {', '.join(headers)}.")
    if not ({"first_name", "full_name"} & set(found)):
        raise ValidationError("The file needs a first name or a full name column.")
    return found


def read_rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row dict) for each data row; the delimiter (comma, semicolon, tab) is sniffed."""
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    if not reader.fieldnames:
        raise ValidationError("The file is empty.")
    if len(reader.fieldnames) > MAX_COLUMNS:
        raise ValidationError(f"The file has {len(reader.fieldnames):,} columns; a file of leads has at most"
                              f" {MAX_COLUMNS}.")
    columns = column_map(reader.fieldnames)
    try:
        for row in reader:
            yield reader.line_num, {name: (row.get(header) or "").strip() for name, header in columns.items()}
    except csv.Error as error:  # a field longer than csv allows, say: the file cannot be read on
        raise ValidationError(f"Line {reader.line_num} cannot be read: {error}.") from None


def parse_row(values: dict[str, str], region: str, now: datetime.datetime,
              source_name: str) -> tuple[dict[str, Any], list[str]]:
    """The lead fields of one row, and its tag names; ValidationError keyed by field when it is bad."""
    errors = {}
    for name, value in values.items():
        if "\x00" in value:  # PostgreSQL's text keeps none: the row's error, not the whole file's 500
            errors[name] = ["Contains a NUL character."]
    first, last = values.get("first_name", ""), values.get("last_name", "")
    if not first and values.get("full_name"):
        first, _, last = values["full_name"].partition(" ")
    if not first:
        errors["first_name"] = ["A first name (or a full name) is required."]
    try:
        phone = normalize_phone(values.get("phone", ""), region)
    except ValidationError as error:
        errors["phone"], phone = error.messages, None
    email = values.get("email", "").lower()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = [f"{email} is not an email address."]
    tags = [tag.strip() for tag in re.split(r"[;,|]", values.get("tags", "")) if tag.strip()]
    if len(tags) > MAX_TAGS:
        errors["tags"] = [f"At most {MAX_TAGS} tags for one lead; this row has {len(tags):,}."]
    elif any(len(tag) > MAX_TAG_LENGTH for tag in tags):  # cut short, it would be another tag than the file's
        errors["tags"] = [f"A tag has at most {MAX_TAG_LENGTH} characters."]
    for name in ("consent", "do_not_call"):
        if values.get(name, "").lower() not in TRUE | FALSE:
            errors[name] = [f"{values[name]!r} is neither yes nor no."]
    if errors:
        raise ValidationError(errors)
    fields = {"first_name": first[:100], "last_name": last.strip()[:100], "email": email[:255], "phone": phone,
              "source": values.get("source", "")[:100], "notes": values.get("notes", "")}
    if values.get("consent", "").lower() in TRUE:
        fields["consent_given_at"], fields["consent_source"] = now, f"import: {source_name}"[:255]
    if values.get("do_not_call", "").lower() in TRUE:
        fields["do_not_call"] = True
    return fields, tags


def count_rows(text: str) -> int:
    """The file's data rows, as the import reads them; ValidationError when its header cannot be imported."""
    return sum(1 for _ in read_rows(text))


def too_many_rows(max_rows: int) -> ValidationError:
    return ValidationError({"file": f"The file has more than {max_rows:,} rows: split it, or import it with"
                                    " manage.py import_leads."})


@gym_service(atomic=False)  # a transaction per batch
def import_leads(*, gym: uuid.UUID, text: str, on_duplicate: str = "skip", source_name: str = "upload",
                 progress: Callable[[int], None] | None = None, max_rows: int | None = None,
                 max_seconds: float | None = None, batch_size: int = BATCH_SIZE) -> ImportReport:
    """Import CSV `text` into the gym; returns an ImportReport. `progress(rows)` is called after each batch
    (of `batch_size` leads to write) with the rows read so far, and once at the end.

    A file of more than `max_rows` rows (when given) is refused before anything is written. After
    `max_seconds` (when given) the import stops at the end of a batch, and its report says after which line.
    """
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    if on_duplicate not in ("skip", "update"):
        raise ValidationError({"on_duplicate": "Choose skip or update."})
    if max_rows is not None and count_rows(text) > max_rows:
        raise too_many_rows(max_rows)
    with gym_transaction(gym):
        country_code = Gym.objects.values_list("country_code", flat=True).get(pk=gym)
    report, batch, now = ImportReport(), [], timezone.now()
    seen_phones, seen_emails = set(), set()
    for line, values in read_rows(text):
        report.rows += 1
        try:
            fields, tags = parse_row(values, country_code, now, source_name)
        except ValidationError as error:
            report.errors.append({"line": line, "errors": error.message_dict})
            continue
        if fields["phone"] in seen_phones or (fields["email"] and fields["email"] in seen_emails):
            report.skipped += 1  # a repeat within the file
            continue
        seen_phones.add(fields["phone"])
        if fields["email"]:
            seen_emails.add(fields["email"])
        batch.append((fields, tags))
        if len(batch) >= batch_size:
            _write_batch(gym, batch, on_duplicate, report)
            batch = []
            if progress:
                progress(report.rows)
            if deadline is not None and time.monotonic() > deadline:
                report.stopped_after_line = line
                return _analyze_after(report, gym)
    if batch:
        _write_batch(gym, batch, on_duplicate, report)
    if progress:
        progress(report.rows)
    return _analyze_after(report, gym)


def _analyze_after(report: ImportReport, gym: uuid.UUID) -> ImportReport:
    """The planner's statistics of the leads' tables refreshed after an import of ANALYZE_AFTER_ROWS leads or
    more: a gym that has just imported is about to search its new leads, and autovacuum may be late or off."""
    if report.created + report.updated >= ANALYZE_AFTER_ROWS:
        with gym_transaction(gym), connection.cursor() as cursor:
            cursor.execute("SELECT reps_analyze_leads()")  # leads migration 0010
    return report


def _write_batch(gym: uuid.UUID, batch: list[tuple[dict[str, Any], list[str]]], on_duplicate: str,
                 report: ImportReport) -> None:
    """One transaction: find the batch's duplicates in two queries, create and update in bulk, tag."""
    with gym_transaction(gym):
        leads = Lead.objects.for_gym(gym)
        phones = [fields["phone"] for fields, _ in batch]
        emails = [fields["email"] for fields, _ in batch if fields["email"]]
        by_phone = {lead.phone: lead for lead in leads.filter(phone__in=phones)}
        by_email = {}
        if emails:
            matches = leads.annotate(email_lower=Lower("email")).filter(email_lower__in=emails)
            by_email = {lead.email_lower: lead for lead in matches}
        new, changed, tagged = [], [], []
        for fields, tags in batch:
            existing = by_phone.get(fields["phone"]) or by_email.get(fields["email"] or None)
            if existing is None:
                lead = Lead(gym_id=gym, **fields)
                new.append(lead)
            elif on_duplicate == "update":
                lead = existing
                for name in UPDATABLE:
                    if fields[name]:
                        setattr(lead, name, fields[name])
                for name in ("consent_given_at", "consent_source", "do_not_call"):
                    if name in fields and not (name == "consent_given_at" and lead.consent_given_at):
                        setattr(lead, name, fields[name])
                changed.append(lead)
            else:
                report.skipped += 1
                continue
            tagged.append((lead, tags))
        Lead.objects.bulk_create(new)
        if changed:
            Lead.objects.bulk_update(changed, [*UPDATABLE, "consent_given_at", "consent_source", "do_not_call",
                                               "updated_at"])
        _tag(gym, tagged)
        report.created += len(new)
        report.updated += len(changed)
        invalidate_after(gym, affected_by(Lead))


def _tag(gym: uuid.UUID, tagged: list[tuple[Lead, list[str]]]) -> None:
    names = {name for _, tags in tagged for name in tags}
    if not names:
        return
    existing = {tag.name.lower(): tag for tag in LeadTag.objects.for_gym(gym)}
    missing = sorted({name for name in names if name.lower() not in existing}, key=str.lower)
    created = LeadTag.objects.bulk_create(
        [LeadTag(gym_id=gym, name=name) for name in {n.lower(): n for n in missing}.values()]
    )
    existing.update({tag.name.lower(): tag for tag in created})
    LeadTagAssignment.objects.bulk_create(
        [LeadTagAssignment(gym_id=gym, lead=lead, tag=existing[name.lower()]) for lead, tags in tagged for name in tags],
        ignore_conflicts=True,
    )


# --- Import jobs ---------------------------------------------------------------------------------------
# POST /api/v1/leads/import/ of a file of more than LEAD_IMPORT_ASYNC_ROWS data rows stores it as a
# LeadImport (queue_import) and answers 202; the task leads.run_import runs it (run_import_job), any number of
# times: a run claims the job under a row lock that others skip, and only a queued job, or a running one whose
# worker stopped noting progress (LEAD_IMPORT_STALE_SECONDS), can be claimed. Re-running a file changes
# nothing the first run wrote (duplicates are skipped, or updated to the same values), so a job taken over
# after its worker died runs from the top; its counts are those of its last run (what the first run created
# shows as skipped, or updated). The periodic task leads.start_queued_imports hands the broker the jobs it
# never got (it was down when they were queued) and those to take over (take_pending_imports).


def async_rows() -> int:
    """Files with more data rows than this are imported as jobs (LEAD_IMPORT_ASYNC_ROWS, default 1,000)."""
    return int(settings.LEAD_IMPORT_ASYNC_ROWS)


def stale_after() -> datetime.timedelta:
    """A running job with no progress for this long has lost its worker (LEAD_IMPORT_STALE_SECONDS, 600); a
    queued job handed to the broker this long ago and not started is handed to it again."""
    return datetime.timedelta(seconds=settings.LEAD_IMPORT_STALE_SECONDS)


def max_attempts() -> int:
    """Runs of a job before it is failed (LEAD_IMPORT_MAX_ATTEMPTS, 3): a file whose import keeps killing its
    worker is not retried for ever."""
    return int(settings.LEAD_IMPORT_MAX_ATTEMPTS)


def report_max_errors() -> int:
    """Bad rows a job's stored report names (LEAD_IMPORT_REPORT_MAX_ERRORS, 1,000); error_count has them all."""
    return int(settings.LEAD_IMPORT_REPORT_MAX_ERRORS)


def job_batch_size() -> int:
    """Leads a job writes per transaction, and so how often it notes progress (LEAD_IMPORT_BATCH_SIZE, 500)."""
    return int(settings.LEAD_IMPORT_BATCH_SIZE)


def needs_job(text: str) -> int | None:
    """The file's data rows when they are more than async_rows() (import it as a job), else None.

    Cheap for a small file: a data row takes at least one line, so a file of at most async_rows() line
    breaks is imported at once without counting; a bigger one is read once to count its rows exactly (the
    header checked: a file the import cannot read is a 400 at upload, not a failed job).
    """
    threshold = async_rows()
    if text.count("\n") <= threshold:
        return None
    rows = count_rows(text)
    return rows if rows > threshold else None


@gym_service
def queue_import(*, gym: uuid.UUID, text: str, rows_total: int, on_duplicate: str = "skip",
                 source_name: str = "upload", created_by: Any = None) -> LeadImport:
    """A queued import job of the gym for CSV `text`; the caller hands it to the broker once this commits
    (leads.tasks.start_import). Taken as handed over now: if the broker turns out to be down, the caller says
    so (not_enqueued), and the sweep hands it over later."""
    if on_duplicate not in OnDuplicate.values:
        raise ValidationError({"on_duplicate": "Choose skip or update."})
    return create_row(LeadImport, gym=gym, data={
        "text": text, "rows_total": rows_total, "on_duplicate": on_duplicate, "source_name": source_name[:255],
        "created_by": created_by, "enqueued_at": timezone.now()})


@gym_service
def not_enqueued(*, gym: uuid.UUID, job_id: uuid.UUID) -> bool:
    """The broker did not take the job's task: the sweep (leads.start_queued_imports) hands it over later."""
    return bool(LeadImport.objects.for_gym(gym).filter(pk=job_id, status=ImportStatus.QUEUED)
                .update(enqueued_at=None, updated_at=timezone.now()))


@gym_service
def take_pending_imports(*, gym: uuid.UUID, now: datetime.datetime | None = None) -> list[uuid.UUID]:
    """The ids of the gym's jobs a worker should start (LeadImportQuerySet.pending), noted as handed to the
    broker now; jobs another sweep is taking are skipped (row locks)."""
    now = now or timezone.now()
    jobs = LeadImport.objects.for_gym(gym)
    ids = list(jobs.select_for_update(skip_locked=True).pending(now - stale_after())
               .order_by("created_at", "id").values_list("pk", flat=True))
    if ids:
        jobs.filter(pk__in=ids).update(enqueued_at=now, updated_at=now)
    return ids


class ClaimLost(Exception):
    """Another run took the job over (this one was taken for dead): stop, leave the job to it."""


@gym_service(atomic=False)  # claims, notes progress and finishes in transactions of their own; imports in batches
def run_import_job(*, gym: uuid.UUID, job_id: uuid.UUID) -> str:
    """Run the gym's import job if no other run holds it; what became of it: done, failed, queued (to be
    retried), or "not claimed" (finished already, running elsewhere, or no such job in the gym)."""
    claimed = _claim(gym, job_id)
    if claimed is None:
        return "not claimed"
    job, claim = claimed

    def progress(rows: int) -> None:
        with gym_transaction(gym):
            noted = LeadImport.objects.for_gym(gym).filter(pk=job_id, claim=claim, status=ImportStatus.RUNNING).update(
                rows_processed=rows, heartbeat_at=timezone.now())
        if not noted:
            raise ClaimLost(job_id)

    try:
        report = import_leads(gym=gym, text=job.text, on_duplicate=job.on_duplicate, source_name=job.source_name,
                              progress=progress, batch_size=job_batch_size())
    except ClaimLost:
        logger.warning("import job %s was taken over by another run; this one stops", job_id)
        return "not claimed"
    except ValidationError as error:  # the file itself (a line that cannot be read): running it again won't help
        return _finish(gym, job_id, claim, error="; ".join(error.messages))
    except Exception as error:
        logger.exception("import job %s failed (attempt %s)", job_id, job.attempts)
        retry = job.attempts < max_attempts()
        with contextlib.suppress(Exception):  # the database may be what failed: the job then goes stale
            _finish(gym, job_id, claim, error=f"{type(error).__name__}: {error}"[:2000], retry=retry)
        raise
    return _finish(gym, job_id, claim, report=report)


def _claim(gym: uuid.UUID, job_id: uuid.UUID) -> tuple[LeadImport, uuid.UUID] | None:
    """(the job, this run's claim) when the job is queued, or running with no progress for stale_after(); None
    when another run holds it (locked now, or running with recent progress), or it is finished."""
    with gym_transaction(gym):
        now = timezone.now()
        job = LeadImport.objects.for_gym(gym).select_for_update(skip_locked=True).filter(pk=job_id).first()
        if job is None or job.status in (ImportStatus.DONE, ImportStatus.FAILED):
            return None
        if job.status == ImportStatus.RUNNING and job.heartbeat_at and job.heartbeat_at >= now - stale_after():
            return None
        jobs = LeadImport.objects.for_gym(gym).filter(pk=job_id)
        if job.attempts >= max_attempts():
            jobs.update(status=ImportStatus.FAILED, claim=None, finished_at=now, updated_at=now, error=(
                f"The import stopped {job.attempts} times without finishing. The rows read so far"
                f" ({job.rows_processed:,} of {job.rows_total:,}) are imported; upload the file again to"
                " import the rest (they are found as duplicates)."))
            return None
        claim = uuid.uuid4()
        jobs.update(status=ImportStatus.RUNNING, claim=claim, attempts=job.attempts + 1, heartbeat_at=now,
                    started_at=job.started_at or now, rows_processed=0, error="", updated_at=now)
        job.attempts += 1
        return job, claim


def _finish(gym: uuid.UUID, job_id: uuid.UUID, claim: uuid.UUID, report: ImportReport | None = None,
            error: str = "", retry: bool = False) -> str:
    """Record the run's end, if it still holds the job: done with `report`, or failed with `error` (or, to
    `retry`, queued again for the sweep)."""
    now = timezone.now()
    changes: dict[str, Any] = {"claim": None, "updated_at": now, "heartbeat_at": now}
    if report is not None:
        stored = report.as_dict()
        cap = report_max_errors()
        stored["errors"] = report.errors[:cap]
        stored["errors_truncated"] = len(report.errors) > cap
        changes |= {"status": ImportStatus.DONE, "rows_processed": report.rows, "created_count": report.created,
                    "updated_count": report.updated, "skipped_count": report.skipped,
                    "error_count": len(report.errors), "report": stored, "finished_at": now, "error": ""}
    elif retry:
        changes |= {"status": ImportStatus.QUEUED, "enqueued_at": None, "error": error}
    else:
        changes |= {"status": ImportStatus.FAILED, "error": error, "finished_at": now}
    with gym_transaction(gym):
        LeadImport.objects.for_gym(gym).filter(pk=job_id, claim=claim).update(**changes)
    return str(changes["status"])
