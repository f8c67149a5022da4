"""Database-level rules that Django's schema editor cannot express."""

from django.db import migrations


def same_gym_foreign_key(table, column, target_table):
    """A migration operation: the row that `column` points at has our gym.

    A composite foreign key (column, gym_id) -> target(id, gym_id), beside
    Django's own single-column one, so that PostgreSQL itself refuses a lead
    whose branch, or an appointment whose staff member, belongs to another
    gym. A NULL in `column` satisfies it (MATCH SIMPLE). Checked at once,
    not deferred, so the offending statement fails rather than the commit.
    The target needs a unique (id, gym) key (`reps.core.models.same_gym_key`).
    """
    name = f"{table}_{column}_same_gym"[:63]
    return migrations.RunSQL(
        sql=(
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" '
            f'FOREIGN KEY ("{column}", "gym_id") REFERENCES "{target_table}" ("id", "gym_id")'
        ),
        reverse_sql=f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"',
    )
