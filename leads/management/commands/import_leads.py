"""manage.py import_leads --gym <id> leads.csv [--update]"""

import json
import uuid
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from gyms.models import Gym
from leads.imports import import_leads
from reps.tenancy.database import GYM_PROOFS_NOT_BELIEVED, gym_proofs_believed, gym_transaction


class Command(BaseCommand):
    help = "Import a gym's leads from a CSV file; duplicates (same phone or email) are skipped or updated."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--gym", required=True, help="The gym's id.")
        parser.add_argument("--update", action="store_true", help="Update leads the gym has already.")
        parser.add_argument("--report", help="Write the full report (every bad line) to this JSON file.")

    def handle(self, *args, file, gym, update, report, **options):
        if not gym_proofs_believed():  # else every gym would look missing
            raise CommandError(GYM_PROOFS_NOT_BELIEVED)
        try:
            gym_id = uuid.UUID(gym)
            with gym_transaction(gym_id):  # row-level security shows the gym only inside it
                gym = Gym.objects.get(pk=gym_id)
        except (ValueError, Gym.DoesNotExist):
            raise CommandError(f"No gym with id {gym!r}.") from None
        path = Path(file)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {file}: {error}") from None
        total = max(0, text.count("\n") - 1) or None
        with tqdm(total=total, unit="rows", desc=f"Importing into {gym.name}", disable=None) as bar:
            try:
                result = import_leads(gym=gym, text=text, on_duplicate="update" if update else "skip",
                                      source_name=path.name, progress=lambda rows: bar.update(rows - bar.n))
            except ValidationError as error:
                raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(f"{result.rows} rows: {result.created} created, {result.updated} updated, "
                          f"{result.skipped} duplicates skipped, {len(result.errors)} with errors.")
        for problem in result.errors[:20]:
            details = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in problem["errors"].items())
            self.stdout.write(f"  line {problem['line']}: {details}")
        if len(result.errors) > 20:
            self.stdout.write(f"  ... and {len(result.errors) - 20} more" + ("" if report else " (see --report)"))
        if report:
            Path(report).write_text(json.dumps(result.as_dict(), indent=2))
