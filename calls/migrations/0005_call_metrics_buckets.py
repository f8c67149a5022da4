"""Call metrics counted as calls are written: per gym, quarter of an hour and outcome (calls_metricsbucket).

A month of a busy gym's calls (300,000) took 40-50 ms to aggregate from the index on every uncached
request; the same figures summed from at most 2,880 quarters of an hour per outcome take a few. Triggers
on calls_calllog keep the counts: a call counts where it starts, under its outcome ('' for none); an
update moves it, a delete removes it, a TRUNCATE empties the buckets. The triggers' function writes as
the table's owner (the application role may only read its gym's buckets), so that whoever writes a call,
the counts follow. Any local day begins on a quarter of an hour in every time zone in use, so a range of
the gym's days is a range of whole buckets (CallRepository.metrics checks, and counts the calls
themselves otherwise).
"""

from django.db import migrations

from reps.tenancy.database import grant_application_role, gym_isolation_policy

BUCKET = "date_bin('15 minutes', {row}.start_time, TIMESTAMPTZ '2000-01-01 00:00:00+00')"

TABLE = (
    """
    CREATE TABLE calls_metricsbucket (
        gym_id uuid NOT NULL,
        bucket timestamptz NOT NULL,
        outcome varchar(20) NOT NULL,
        calls integer NOT NULL,
        timed integer NOT NULL,
        seconds bigint NOT NULL,
        PRIMARY KEY (gym_id, bucket, outcome)
    )
    """,
    "DROP TABLE calls_metricsbucket",
)


def count(row, sign):
    """The statement that adds (sign 1) or removes (sign -1) the call `row` (OLD or NEW) from its bucket."""
    return f"""
        IF {row}.start_time IS NOT NULL THEN
            INSERT INTO calls_metricsbucket AS b (gym_id, bucket, outcome, calls, timed, seconds)
            VALUES ({row}.gym_id, {BUCKET.format(row=row)}, COALESCE({row}.outcome, ''), {sign},
                    CASE WHEN {row}.duration IS NULL THEN 0 ELSE {sign} END, {sign} * COALESCE({row}.duration, 0))
            ON CONFLICT (gym_id, bucket, outcome) DO UPDATE
            SET calls = b.calls + EXCLUDED.calls, timed = b.timed + EXCLUDED.timed, seconds = b.seconds + EXCLUDED.seconds;
        END IF;"""


FUNCTIONS = (
    f"""
    CREATE FUNCTION reps_count_call() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN {count("OLD", -1)}
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN {count("NEW", 1)}
        END IF;
        RETURN NULL;
    END $$;
    CREATE FUNCTION reps_count_no_calls() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
    BEGIN
        TRUNCATE calls_metricsbucket;
        RETURN NULL;
    END $$;
    REVOKE ALL ON FUNCTION reps_count_call() FROM PUBLIC;
    REVOKE ALL ON FUNCTION reps_count_no_calls() FROM PUBLIC;
    CREATE TRIGGER calllog_counted_in AFTER INSERT ON calls_calllog
        FOR EACH ROW EXECUTE FUNCTION reps_count_call();
    CREATE TRIGGER calllog_counted_out AFTER DELETE ON calls_calllog
        FOR EACH ROW EXECUTE FUNCTION reps_count_call();
    CREATE TRIGGER calllog_counted_again AFTER UPDATE ON calls_calllog
        FOR EACH ROW WHEN ((OLD.gym_id, OLD.start_time, OLD.outcome, OLD.duration)
                           IS DISTINCT FROM (NEW.gym_id, NEW.start_time, NEW.outcome, NEW.duration))
        EXECUTE FUNCTION reps_count_call();
    CREATE TRIGGER calllog_counted_none AFTER TRUNCATE ON calls_calllog
        FOR EACH STATEMENT EXECUTE FUNCTION reps_count_no_calls();
    """,
    """
    DROP TRIGGER calllog_counted_in ON calls_calllog;
    DROP TRIGGER calllog_counted_out ON calls_calllog;
    DROP TRIGGER calllog_counted_again ON calls_calllog;
    DROP TRIGGER calllog_counted_none ON calls_calllog;
    DROP FUNCTION reps_count_call();
    DROP FUNCTION reps_count_no_calls();
    """,
)

# The calls there are already; the triggers' lock on calls_calllog (until this migration commits) keeps
# any from being written meanwhile.
BACKFILL = (
    f"""
    INSERT INTO calls_metricsbucket (gym_id, bucket, outcome, calls, timed, seconds)
    SELECT gym_id, {BUCKET.format(row="calls_calllog")}, COALESCE(outcome, ''), COUNT(*), COUNT(duration),
           COALESCE(SUM(duration), 0)
    FROM calls_calllog WHERE start_time IS NOT NULL GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3  -- each gym's buckets together, in time order, as new calls add them
    """,
    migrations.RunSQL.noop,
)


def grants(apps, schema_editor):
    grant_application_role(schema_editor.connection.alias)


class Migration(migrations.Migration):

    dependencies = [
        ("calls", "0004_platform_outcomes"),
        ("core", "0005_gyms_with_stuck_calls"),
    ]

    operations = [
        migrations.RunSQL(*TABLE),
        migrations.RunSQL(*gym_isolation_policy("calls_metricsbucket")),
        migrations.RunSQL(*FUNCTIONS),
        migrations.RunSQL(*BACKFILL),
        # The application role reads it (its gym's rows); only the triggers write it (database.READ_ONLY).
        migrations.RunPython(grants, migrations.RunPython.noop),
    ]
