"""Lead search through a function, not a view: no user function can watch other gyms' rows go by.

Row-level security keeps PostgreSQL from using the trigram indexes for a LIKE on leads_lead itself (LIKE is
not leakproof, so it may only run after the policy's check, row by row). The leads_lead_search view read the
table as its owner to reach the indexes, but was no security barrier: a condition of the caller's choosing
(a function of its own) could run on every gym's rows. reps_lead_matches() takes only the search's terms, as
data: (column, text) pairs that it quotes itself, on four columns it names itself, and runs that query
as the table's owner for the verified gym of the transaction (reps_current_gym()), none without one.
"""

from django.db import migrations

from reps.tenancy.database import application_role

ROLE = application_role()

# reps_lead_search_sql: the query for clauses [[[column, text], ...], ...], each of which has one of its
# columns containing its text (any case, but for the phone); $1 is the gym, and when ordered, $2 the most ids, newest first. A function of
# its own so that a test can EXPLAIN what reps_lead_matches(clauses, most ids or NULL for all) runs.
SEARCH_SQL = """
CREATE FUNCTION reps_lead_search_sql(clauses jsonb, ordered boolean) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
DECLARE
    clause jsonb;
    alternative jsonb;
    alternatives text[];
    conditions text[] := '{}';
    target text;
BEGIN
    IF jsonb_typeof(clauses) IS DISTINCT FROM 'array' OR jsonb_array_length(clauses) = 0 THEN
        RAISE EXCEPTION 'a lead search needs a non-empty array of clauses';
    END IF;
    FOR clause IN SELECT value FROM jsonb_array_elements(clauses) LOOP
        IF jsonb_typeof(clause) IS DISTINCT FROM 'array' OR jsonb_array_length(clause) = 0 THEN
            RAISE EXCEPTION 'each clause of a lead search is a non-empty array of [column, text]';
        END IF;
        alternatives := '{}';
        FOR alternative IN SELECT value FROM jsonb_array_elements(clause) LOOP
            target := CASE alternative->>0
                WHEN 'first_name' THEN 'upper(first_name) LIKE upper(%L)'
                WHEN 'last_name' THEN 'upper(last_name) LIKE upper(%L)'
                WHEN 'email' THEN 'upper(email) LIKE upper(%L)'
                WHEN 'phone' THEN 'phone LIKE %L'
            END;
            IF target IS NULL OR jsonb_typeof(alternative->1) IS DISTINCT FROM 'string' THEN
                RAISE EXCEPTION 'a lead search alternative is [first_name|last_name|email|phone, text], not %',
                    alternative;
            END IF;
            -- The fragment anywhere, its own wildcards taken literally (as Django's contains lookups do).
            alternatives := alternatives || format(target, '%' || replace(replace(replace(alternative->>1,
                '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%');
        END LOOP;
        conditions := conditions || ('(' || array_to_string(alternatives, ' OR ') || ')');
    END LOOP;
    RETURN 'SELECT id FROM public.leads_lead WHERE gym_id = $1 AND ' || array_to_string(conditions, ' AND ')
        || CASE WHEN ordered THEN ' ORDER BY created_at DESC, id DESC LIMIT $2' ELSE '' END;
END $$;

CREATE FUNCTION reps_lead_matches(clauses jsonb, lim integer) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 100 SET search_path = pg_catalog AS $$
DECLARE
    gym uuid := public.reps_current_gym();
BEGIN
    IF gym IS NOT NULL THEN
        RETURN QUERY EXECUTE public.reps_lead_search_sql(clauses, lim IS NOT NULL) USING gym, lim;
    END IF;
END $$;

REVOKE ALL ON FUNCTION reps_lead_search_sql(jsonb, boolean), reps_lead_matches(jsonb, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reps_lead_search_sql(jsonb, boolean), reps_lead_matches(jsonb, integer) TO {role};
"""

NO_SEARCH_SQL = "DROP FUNCTION reps_lead_matches(jsonb, integer); DROP FUNCTION reps_lead_search_sql(jsonb, boolean);"

OLD_VIEW = (
    "CREATE VIEW leads_lead_search AS SELECT id, gym_id, first_name, last_name, email, phone, created_at"
    " FROM leads_lead WHERE gym_id = reps_current_gym() OR NOT row_security_active('leads_lead');"
    f"GRANT SELECT ON leads_lead_search TO {ROLE}"
)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0003_containment"),
        ("leads", "0005_lead_search_view"),
    ]

    operations = [
        migrations.RunSQL(SEARCH_SQL.replace("{role}", ROLE), NO_SEARCH_SQL),
        migrations.RunSQL("DROP VIEW leads_lead_search", OLD_VIEW),
        migrations.DeleteModel(name="LeadSearchRow"),
    ]
