"""reps_oldest_due_call(at): when the longest-waiting AI call due by then was due, over every gym (or NULL).

Asked by /metrics before any gym is known; it answers with a moment only. How far dispatch lags behind.
"""

from django.db import migrations

from reps.tenancy.database import application_role

ROLE = application_role()

OLDEST_DUE_CALL = f"""
CREATE FUNCTION reps_oldest_due_call(at timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT min(start_time) FROM calls_calllog
    WHERE is_ai_call AND status = 'scheduled' AND retell_call_id IS NULL AND dispatched_at IS NULL
      AND start_time <= $1
$$;
REVOKE ALL ON FUNCTION reps_oldest_due_call(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reps_oldest_due_call(timestamptz) TO {ROLE};
"""


class Migration(migrations.Migration):
    dependencies = [("calls", "0005_call_metrics_buckets")]

    operations = [
        migrations.RunSQL(OLDEST_DUE_CALL, "DROP FUNCTION reps_oldest_due_call(timestamptz);"),
    ]
