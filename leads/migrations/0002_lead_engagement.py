"""The seed's "LeadV2": engagement_score and last_interaction on Lead.

Added nullable, backfilled from each lead's history in one set-based UPDATE
(no Python loop over rows), then made NOT NULL with a default of 0:

- engagement_score = min(100, 10 per completed call + 25 per appointment
  that was not cancelled);
- last_interaction = the latest of its calls' end (or start) times, calls
  still scheduled left out, and its appointments' booking times; NULL when
  it has neither.

Reversing drops both columns; the backfill needs no undo.
"""

import django.core.validators
from django.db import migrations, models

BACKFILL = """
UPDATE leads_lead AS lead
SET engagement_score = LEAST(100, 10 * history.completed_calls + 25 * history.appointments),
    last_interaction = history.last_interaction
FROM (
    SELECT lead.id,
           COALESCE(calls.completed, 0) AS completed_calls,
           COALESCE(appointments.booked, 0) AS appointments,
           GREATEST(calls.last_call, appointments.last_booked) AS last_interaction
    FROM leads_lead AS lead
    LEFT JOIN (
        SELECT lead_id,
               COUNT(*) FILTER (WHERE status = 'completed') AS completed,
               MAX(COALESCE(end_time, start_time)) FILTER (WHERE status <> 'scheduled') AS last_call
        FROM calls_calllog
        GROUP BY lead_id
    ) AS calls ON calls.lead_id = lead.id
    LEFT JOIN (
        SELECT lead_id,
               COUNT(*) FILTER (WHERE status <> 'cancelled') AS booked,
               MAX(created_at) AS last_booked
        FROM appointments_appointment
        GROUP BY lead_id
    ) AS appointments ON appointments.lead_id = lead.id
) AS history
WHERE lead.id = history.id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0001_initial"),
        # The backfill reads calls and appointments.
        ("calls", "0001_initial"),
        ("appointments", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="lead",
            name="engagement_score",
            field=models.PositiveSmallIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="lead",
            name="last_interaction",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="lead",
            name="engagement_score",
            field=models.PositiveSmallIntegerField(
                default=0,
                help_text="0 to 100; how engaged the lead has been.",
                validators=[django.core.validators.MaxValueValidator(100)],
            ),
        ),
        migrations.AddConstraint(
            model_name="lead",
            constraint=models.CheckConstraint(
                condition=models.Q(("engagement_score__lte", 100)),
                name="lead_engagement_score_range",
                violation_error_message="The engagement score must be between 0 and 100.",
            ),
        ),
    ]
