"""reps_gyms_with_stuck_calls(before): the gyms with AI calls the platform took but never reported ended.

Asked before any gym is known, like reps_gyms_with_due_calls; it answers with gym ids only.
The reconciliation job asks the platform (get-call) about each such call.
"""

import importlib

from django.db import migrations

row_level_security = importlib.import_module("reps.core.migrations.0002_row_level_security")


class Migration(migrations.Migration):
    dependencies = [("core", "0004_policies_plan_with_the_gym")]

    operations = [
        migrations.RunSQL(*row_level_security.routing_function(
            "reps_gyms_with_stuck_calls", "sent_before timestamptz", "SETOF uuid",
            "SELECT DISTINCT gym_id FROM calls_calllog WHERE is_ai_call AND status IN ('scheduled', 'in_progress')"
            " AND retell_call_id IS NOT NULL AND dispatched_at < $1")),
    ]
