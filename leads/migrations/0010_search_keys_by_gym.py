"""Lead search through trigram keys that belong to one gym: a gym's search reads no other gym's index entries.

The (gym, column) trigram indexes of 0008 keyed each trigram alone: gym A's search for "kowal" read the
posting list of "owa" with every gym's leads in it, and the pending list of recent inserts of every gym
(GIN's fastupdate), so its time grew with gym B's matches (issue 20: 0.3 -> 4.8 ms with 20,000 of gym B's
leads named Kowalczyk, none of gym A's). Here each key is a hash of (gym, column, trigram):

- reps_search_keys(gym, columns, texts): the keys of each text for its column, from pg_trgm's trigrams of its
  upper case; reps_search_fragment_keys(gym, column, fragment): those of the trigrams inside the fragment's
  words only. A fragment found in a value (upper case both) has its words inside the value's words, so
  its inner trigrams are among the value's: `keys @> fragment keys`
  holds for every match, and only the LIKE it sits beside decides. A fragment with no three-letter run
  ("a", "jo", "@x") has no keys; it is searched among the gym's own leads (an index on the gym).
- lead_search_keys_idx: reps_lead_search_keys(gym, first_name, last_name, email, phone) for the gyms'
  searches (reps_lead_matches()), without fastupdate: no pending list that every gym's inserts share.
- lead_platform_search_keys_idx: the same keys without a gym, for the platform's searches across gyms (the
  admin), which read the table itself.

reps_lead_search_sql() builds the keyed query (see there), and reps_lead_matches() runs it with sequential
scans off: on stale statistics the planner may think a gym is most of the table, and a table scan reads every
gym's leads.

reps_analyze_leads() refreshes the planner's statistics of the leads' tables after a bulk write (a CSV import),
which the application role, owning no table, cannot ANALYZE itself; autovacuum may be late, or off.
"""

import importlib

from django.db import migrations

from reps.tenancy.database import application_role

ROLE = application_role()
previous = importlib.import_module("leads.migrations.0006_lead_search_function")

# Qualified names and no SET clause: the keys are computed for every insert and update of a lead, and a
# function with its own search_path costs a fifth more (35 -> 44 us a lead).
KEYS_SQL = """
CREATE FUNCTION reps_search_keys(gym uuid, columns text[], texts text[]) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN ARRAY(
        SELECT pg_catalog.hashtextextended(pg_catalog.concat(gym, ':', field.name, ':', trigram), 0)
        FROM ROWS FROM (pg_catalog.unnest(columns), pg_catalog.unnest(texts)) AS field(name, text),
             pg_catalog.unnest(public.show_trgm(pg_catalog.upper(field.text))) AS trigram);
END $$;

CREATE FUNCTION reps_lead_search_keys(gym uuid, first_name text, last_name text, email text, phone text)
RETURNS bigint[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT public.reps_search_keys(gym, '{first_name,last_name,email,phone}', ARRAY[first_name, last_name, email, phone])
$$;

-- A fragment's keys: those of the trigrams inside its words (not padded at a word's edge, which in a value may
-- be the middle of a longer word), taken as a word's trigrams less those of its first and last two letters
-- (padded ones only; once pg_trgm hashes a multibyte trigram, its padding can no longer be seen).
CREATE FUNCTION reps_search_fragment_keys(gym uuid, column_name text, fragment text) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    RETURN ARRAY(
        WITH words AS (
            SELECT word FROM regexp_split_to_table(upper(fragment), '[^[:alnum:]]+') AS word WHERE length(word) >= 3)
        SELECT unnest(public.reps_search_keys(gym, ARRAY[column_name], ARRAY[word])) FROM words
        EXCEPT
        SELECT unnest(public.reps_search_keys(gym, ARRAY[column_name, column_name], ARRAY[left(word, 2), right(word, 2)]))
        FROM words);
END $$;

CREATE INDEX lead_search_keys_idx ON leads_lead
    USING gin (reps_lead_search_keys(gym_id, first_name, last_name, email, phone)) WITH (fastupdate = off);
CREATE INDEX lead_platform_search_keys_idx ON leads_lead
    USING gin (reps_lead_search_keys(NULL, first_name, last_name, email, phone));
-- No statistics of the keys: ANALYZE would compute them for its whole sample (2.3 s of ANALYZE leads_lead's
-- 2.6 at a million leads; 0.36 s without), and the search's plan does not ask them (reps_lead_search_sql()).
ALTER INDEX lead_search_keys_idx ALTER COLUMN 1 SET STATISTICS 0;
ALTER INDEX lead_platform_search_keys_idx ALTER COLUMN 1 SET STATISTICS 0;
"""

NO_KEYS_SQL = """
DROP INDEX lead_platform_search_keys_idx;
DROP INDEX lead_search_keys_idx;
DROP FUNCTION reps_search_fragment_keys(uuid, text, text);
DROP FUNCTION reps_lead_search_keys(uuid, text, text, text, text);
DROP FUNCTION reps_search_keys(uuid, text[], text[]);
"""

# reps_lead_search_sql(clauses, ordered): as in 0006, but each clause whose every alternative has keys is
# written ((K1 OR K2 ...) AND (L1 OR L2 ...)): K, the value's keys containing the fragment's, and L, the LIKE.
# L implies its K, so that is the clause (L1 OR L2 ...); the K part alone is what the bitmap scan of the keys
# answers, so the rows it finds are not checked against it again (which would compute every row's keys).
# When some clause has keys, the gym is checked as `gym_id IS NOT DISTINCT FROM $1`, which no index on the gym
# can serve: on stale statistics the planner would otherwise read every lead of a gym it thinks is small;
# the keys hold the gym already. Otherwise (every word without a three-letter run), `gym_id = $1` reads the
# gym's own leads.
SEARCH_SQL = r"""
CREATE FUNCTION reps_lead_search_sql(clauses jsonb, ordered boolean) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
DECLARE
    clause jsonb;
    alternative jsonb;
    column_name text;
    fragment text;
    keys text[];
    likes text[];
    conditions text[] := '{}';
    keyed boolean := false;
    clause_keyed boolean;
BEGIN
    IF jsonb_typeof(clauses) IS DISTINCT FROM 'array' OR jsonb_array_length(clauses) = 0 THEN
        RAISE EXCEPTION 'a lead search needs a non-empty array of clauses';
    END IF;
    FOR clause IN SELECT value FROM jsonb_array_elements(clauses) LOOP
        IF jsonb_typeof(clause) IS DISTINCT FROM 'array' OR jsonb_array_length(clause) = 0 THEN
            RAISE EXCEPTION 'each clause of a lead search is a non-empty array of [column, text]';
        END IF;
        keys := '{}';
        likes := '{}';
        clause_keyed := true;
        FOR alternative IN SELECT value FROM jsonb_array_elements(clause) LOOP
            column_name := alternative->>0;
            IF column_name IS NULL OR column_name NOT IN ('first_name', 'last_name', 'email', 'phone')
                    OR jsonb_typeof(alternative->1) IS DISTINCT FROM 'string' THEN
                RAISE EXCEPTION 'a lead search alternative is [first_name|last_name|email|phone, text], not %',
                    alternative;
            END IF;
            fragment := alternative->>1;
            -- The fragment anywhere, its own wildcards taken literally (as Django's contains lookups do).
            likes := likes || format(CASE WHEN column_name = 'phone' THEN '%I LIKE %L' ELSE 'upper(%I) LIKE upper(%L)' END,
                column_name, '%' || replace(replace(replace(fragment, '\', '\\'), '%', '\%'), '_', '\_') || '%');
            IF cardinality(public.reps_search_fragment_keys(NULL, column_name, fragment)) = 0 THEN
                clause_keyed := false;
            END IF;
            keys := keys || format('public.reps_lead_search_keys(gym_id, first_name, last_name, email, phone)'
                || ' @> public.reps_search_fragment_keys($1, %L, %L)', column_name, fragment);
        END LOOP;
        IF clause_keyed THEN
            keyed := true;
            conditions := conditions || ('(' || array_to_string(keys, ' OR ') || ') AND ('
                || array_to_string(likes, ' OR ') || ')');
        ELSE
            conditions := conditions || ('(' || array_to_string(likes, ' OR ') || ')');
        END IF;
    END LOOP;
    RETURN 'SELECT id FROM public.leads_lead WHERE '
        || CASE WHEN keyed THEN 'gym_id IS NOT DISTINCT FROM $1' ELSE 'gym_id = $1' END
        || ' AND ' || array_to_string(conditions, ' AND ')
        || CASE WHEN ordered THEN ' ORDER BY created_at DESC, id DESC LIMIT $2' ELSE '' END;
END $$;

CREATE FUNCTION reps_lead_matches(clauses jsonb, lim integer) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 100 SET search_path = pg_catalog SET enable_seqscan = off AS $$
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


ANALYZE_SQL = """
CREATE FUNCTION reps_analyze_leads() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    ANALYZE public.leads_lead, public.leads_leadtag, public.leads_leadtagassignment;
END $$;
REVOKE ALL ON FUNCTION reps_analyze_leads() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reps_analyze_leads() TO {role};
"""


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0009_import_jobs"),
    ]

    operations = [
        migrations.RunSQL(KEYS_SQL, NO_KEYS_SQL),
        migrations.RunSQL(previous.NO_SEARCH_SQL, previous.SEARCH_SQL.replace("{role}", ROLE)),
        migrations.RunSQL(SEARCH_SQL.replace("{role}", ROLE), previous.NO_SEARCH_SQL),
        migrations.RunSQL(ANALYZE_SQL.replace("{role}", ROLE), "DROP FUNCTION reps_analyze_leads()"),
        migrations.RemoveIndex(model_name="lead", name="lead_gym_first_name_trgm_idx"),
        migrations.RemoveIndex(model_name="lead", name="lead_gym_last_name_trgm_idx"),
        migrations.RemoveIndex(model_name="lead", name="lead_gym_email_trgm_idx"),
        migrations.RemoveIndex(model_name="lead", name="lead_gym_phone_trgm_idx"),
    ]
