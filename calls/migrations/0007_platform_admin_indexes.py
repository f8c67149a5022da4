"""The platform admin's call lists at platform size (5,000,000 calls):

- calllog_start_created_id_idx: every gym's calls in the list's order (newest first, not started yet after
  them); the first page read 7.9 s sorting them all.
- calltranscript_created_id_idx: the transcripts' list, newest first.
- calllog_retell_call_id_key rebuilt with varchar_pattern_ops: the search finds a call by the beginning of
  its platform id (LIKE 'call_8f3%') through it in any collation; equality and uniqueness are the same.
  Built under another name, then swapped: the platform's ids stay unique at every moment.

All built CONCURRENTLY: a live platform's writes go on meanwhile.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models



def swap_unique_key(opclass):
    """The statements that rebuild the unique key with `opclass`, one each (CONCURRENTLY runs alone)."""
    return [
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS calllog_retell_call_id_next ON calls_calllog"
        f" (retell_call_id {opclass}) WHERE retell_call_id IS NOT NULL",
        "DROP INDEX CONCURRENTLY IF EXISTS calllog_retell_call_id_key",
        "ALTER INDEX calllog_retell_call_id_next RENAME TO calllog_retell_call_id_key",
    ]


def unique_key(**options):
    return models.UniqueConstraint(fields=["retell_call_id"], condition=models.Q(retell_call_id__isnull=False),
                                   name="calllog_retell_call_id_key",
                                   violation_error_message="A call with this voice-platform id exists already.",
                                   **options)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("calls", "0006_oldest_due_call"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="calllog",
            index=models.Index(models.OrderBy(models.F("start_time"), descending=True, nulls_last=True),
                               models.OrderBy(models.F("created_at"), descending=True),
                               models.OrderBy(models.F("id"), descending=True),
                               name="calllog_start_created_id_idx"),
        ),
        AddIndexConcurrently(
            model_name="calltranscript",
            index=models.Index(fields=["-created_at", "-id"], name="calltranscript_created_id_idx"),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(swap_unique_key("varchar_pattern_ops"), reverse_sql=swap_unique_key("")),
            ],
            state_operations=[
                migrations.RemoveConstraint(model_name="calllog", name="calllog_retell_call_id_key"),
                migrations.AddConstraint(model_name="calllog", constraint=unique_key(opclasses=["varchar_pattern_ops"])),
            ],
        ),
    ]
