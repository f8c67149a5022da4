"""Send the AI calls whose time has come to the voice platform, send again those it has not confirmed, and ask it
about calls it never reported ended. Run it every minute (cron, a timer)."""

import time

from django.core.management.base import BaseCommand, CommandError

from calls.services import dispatch_due_calls
from calls.webhooks import reconcile_stuck_calls
from reps.tenancy.database import GYM_PROOFS_NOT_BELIEVED, gym_proofs_believed


class Command(BaseCommand):
    help = "Send queued AI calls that are due to the voice platform."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=100, help="At most this many calls per round.")
        parser.add_argument("--loop", type=int, default=0, metavar="SECONDS",
                            help="Keep running, one round every SECONDS (0: one round and stop).")

    def handle(self, *args, limit, loop, **options):
        if not gym_proofs_believed():  # each call is sent in its gym's transaction
            raise CommandError(GYM_PROOFS_NOT_BELIEVED)
        while True:
            counts = dispatch_due_calls(limit=limit)
            counts["reconciled"] = reconcile_stuck_calls(limit=limit)  # lost webhooks: asked with get-call
            self.stdout.write(", ".join(f"{name}: {count}" for name, count in counts.items()))
            if not loop:
                return
            time.sleep(loop)
