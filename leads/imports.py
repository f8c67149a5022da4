"""Importing a gym's existing leads from a CSV file (manage.py import_leads, POST /api/v1/leads/import/).

Common column names are understood (first/last/full name, email, phone or
mobile, source, tags, notes, consent, do-not-call). Phones are normalized with
the gym's country. A row whose phone or email the gym already has (or that
came earlier in the file) is a duplicate: skipped, or, with on_duplicate=
"update", used to update the existing lead. Bad rows are reported with their
line numbers and do not stop the others. Rows are written in batches, each in
its own transaction, so running the same file twice changes nothing the
second time.
"""

import csv
import datetime
import io
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models.functions import Lower
from django.utils import timezone

from gyms.models import Gym
from reps.core.cache import affected_by, invalidate_after
from reps.core.phones import normalize_phone
from reps.tenancy.database import gym_transaction
from reps.tenancy.services import gym_service

from .models import Lead, LeadTag, LeadTagAssignment

BATCH_SIZE = 500
MAX_COLUMNS = 100  # a file of leads has a dozen; thousands would only cost every row's reading
MAX_TAGS = 50  # per lead
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
    tags = [tag.strip()[:50] for tag in re.split(r"[;,|]", values.get("tags", "")) if tag.strip()]
    if len(tags) > MAX_TAGS:
        errors["tags"] = [f"At most {MAX_TAGS} tags for one lead; this row has {len(tags):,}."]
    if errors:
        raise ValidationError(errors)
    fields = {"first_name": first[:100], "last_name": last.strip()[:100], "email": email[:255], "phone": phone,
              "source": values.get("source", "")[:100], "notes": values.get("notes", "")}
    if values.get("consent", "").lower() in TRUE:
        fields["consent_given_at"], fields["consent_source"] = now, f"import: {source_name}"[:255]
    if values.get("do_not_call", "").lower() in TRUE:
        fields["do_not_call"] = True
    return fields, tags


@gym_service(atomic=False)  # a transaction per batch
def import_leads(*, gym: uuid.UUID, text: str, on_duplicate: str = "skip", source_name: str = "upload",
                 progress: Callable[[int], None] | None = None, max_rows: int | None = None,
                 max_seconds: float | None = None) -> ImportReport:
    """Import CSV `text` into the gym; returns an ImportReport. `progress(rows)` is called after each batch.

    A file of more than `max_rows` rows (when given) is refused before anything is written. After
    `max_seconds` (when given) the import stops at the end of a batch, and its report says after which line.
    """
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    if on_duplicate not in ("skip", "update"):
        raise ValidationError({"on_duplicate": "Choose skip or update."})
    if max_rows is not None and sum(1 for _ in read_rows(text)) > max_rows:
        raise ValidationError({"file": f"The file has more than {max_rows:,} rows: split it, or import it with"
                                       " manage.py import_leads."})
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
        if len(batch) == BATCH_SIZE:
            _write_batch(gym, batch, on_duplicate, report)
            batch = []
            if progress:
                progress(report.rows)
            if deadline is not None and time.monotonic() > deadline:
                report.stopped_after_line = line
                return report
    if batch:
        _write_batch(gym, batch, on_duplicate, report)
    if progress:
        progress(report.rows)
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
