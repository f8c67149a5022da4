"""reps_gyms_with_overdue_appointments(now): the gyms with appointments still scheduled or confirmed whose end
plus the gym's no-show grace period (GymSettings.no_show_grace_minutes) has passed.

Asked before any gym is known, like reps_gyms_with_due_calls; it answers with gym ids only. The no-show
task marks each such gym's appointments no_show, in the gym's transaction.
"""

import importlib

from django.db import migrations

row_level_security = importlib.import_module("reps.core.migrations.0002_row_level_security")


class Migration(migrations.Migration):
    dependencies = [
        ("appointments", "0001_initial"),
        ("gyms", "0005_no_show_grace"),
        ("core", "0005_gyms_with_stuck_calls"),
    ]

    operations = [
        migrations.RunSQL(*row_level_security.routing_function(
            "reps_gyms_with_overdue_appointments", "at timestamptz", "SETOF uuid",
            "SELECT DISTINCT a.gym_id FROM appointments_appointment a"
            " LEFT JOIN gyms_gymsettings s ON s.gym_id = a.gym_id"
            " WHERE a.status IN ('scheduled', 'confirmed')"
            " AND a.end_time + make_interval(mins => COALESCE(s.no_show_grace_minutes, 30)) < $1")),
    ]
