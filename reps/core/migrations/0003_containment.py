"""Containment: what the application's own database login can reach, should it be abused.

- The gym a transaction acts for is believed only with its proof. `reps.gym_id` comes with
  `reps.gym_proof`, an HMAC-SHA256 of it under a key the application derives from SECRET_KEY, which the
  migrating login stores in `reps_gym_context_key` after each migrate (tenancy.database.grant_application_role)
  and the application role cannot read. Knowing reps_app's password, one can set reps.gym_id to any gym;
  without the key there is no proof, and reps_current_gym() is NULL: no gym's rows.
- The policies ask for the gym once per statement, `(SELECT reps_current_gym())`: the check is an HMAC
  (0004 unwraps it: the planner then equates it with the query's gym).
- No TEMPORARY privilege for PUBLIC: the application role can create no function (nor table) at all, so
  none can run where other gyms' rows are read (and PostgreSQL 15 gives PUBLIC no CREATE on public).
- A user's profile, groups and permissions exist for the application only with the user (in the gym), and
  the platform admin's log (which names objects of every gym) not at all.
- Sessions: the application role cannot read django_session; it loads, saves and deletes one session by
  its key, through SECURITY DEFINER functions (reps.core.sessions), so a session key is never listed.
"""

from django.db import migrations

from reps.tenancy.database import application_role

ROLE = application_role()

GYM_TABLES = [
    ("appointments_appointment", "gym_id"), ("calls_calllog", "gym_id"), ("calls_calltranscript", "gym_id"),
    ("calls_campaign", "gym_id"), ("core_outboxmessage", "gym_id"), ("gyms_aisettings", "gym_id"),
    ("gyms_branch", "gym_id"), ("gyms_gymsettings", "gym_id"), ("gyms_knowledgebaseentry", "gym_id"),
    ("gyms_voicesettings", "gym_id"), ("leads_lead", "gym_id"), ("leads_leadqualification", "gym_id"),
    ("leads_leadtag", "gym_id"), ("leads_leadtagassignment", "gym_id"), ("accounts_user", "gym_id"),
    ("gyms_gym", "id"),
]


def policies(current):
    """ALTER POLICY statements: every gym table's rule with `current` as the gym."""
    statements = [f'ALTER POLICY gym_isolation ON "{table}" USING ("{column}" = {current})'
                  f' WITH CHECK ("{column}" = {current});' for table, column in GYM_TABLES]
    statements.append(f'ALTER POLICY gym_isolation ON calls_voicewebhookevent USING (gym_id = {current})'
                      f' WITH CHECK (gym_id = {current} OR gym_id IS NULL);')
    return "".join(statements)


VERIFIED_GYM = """
CREATE TABLE reps_gym_context_key (id smallint PRIMARY KEY CHECK (id = 1), key text NOT NULL);
REVOKE ALL ON reps_gym_context_key FROM PUBLIC;
CREATE OR REPLACE FUNCTION reps_current_gym() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT CASE WHEN current_setting('reps.gym_proof', true)
                     = encode(hmac(current_setting('reps.gym_id', true), k.key, 'sha256'), 'hex')
           THEN NULLIF(current_setting('reps.gym_id', true), '')::uuid END
    FROM reps_gym_context_key k WHERE k.id = 1
$$;
"""
UNVERIFIED_GYM = """
CREATE OR REPLACE FUNCTION reps_current_gym() RETURNS uuid
LANGUAGE sql STABLE SECURITY INVOKER PARALLEL SAFE
AS $$ SELECT NULLIF(current_setting('reps.gym_id', true), '')::uuid $$;
DROP TABLE reps_gym_context_key;
"""

# A user's rows without a gym of their own: they exist for the application only if the user does.
USER_TABLES = ["accounts_userprofile", "accounts_user_groups", "accounts_user_user_permissions"]


def through_user_policy(table):
    rule = "EXISTS (SELECT FROM accounts_user u WHERE u.id = user_id)"
    return (f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY;'
            f'CREATE POLICY gym_isolation ON "{table}" USING ({rule}) WITH CHECK ({rule});',
            f'DROP POLICY gym_isolation ON "{table}"; ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY;')


NO_TEMP = """DO $$ BEGIN EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database()); END $$;"""
TEMP = """DO $$ BEGIN EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO PUBLIC', current_database()); END $$;"""

SESSION_SIGNATURES = ("reps_session_load(text), reps_session_exists(text),"
                      " reps_session_save(text, text, timestamptz, boolean), reps_session_delete(text),"
                      " reps_session_clear_expired()")
SESSION_FUNCTIONS = f"""
CREATE FUNCTION reps_session_load(key text) RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp AS $$
    SELECT session_data FROM django_session WHERE session_key = key AND expire_date > now()
$$;
CREATE FUNCTION reps_session_exists(key text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp AS $$ SELECT EXISTS (SELECT FROM django_session WHERE session_key = key) $$;
CREATE FUNCTION reps_session_save(key text, data text, expires timestamptz, must_create boolean) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    -- A new session only under a new key; an update only of a session that still exists.
    IF must_create THEN
        INSERT INTO django_session (session_key, session_data, expire_date) VALUES (key, data, expires)
        ON CONFLICT (session_key) DO NOTHING;
    ELSE
        UPDATE django_session SET session_data = data, expire_date = expires WHERE session_key = key;
    END IF;
    RETURN FOUND;
END $$;
CREATE FUNCTION reps_session_delete(key text) RETURNS void LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp AS $$ DELETE FROM django_session WHERE session_key = key $$;
CREATE FUNCTION reps_session_clear_expired() RETURNS void LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp AS $$ DELETE FROM django_session WHERE expire_date < now() $$;
REVOKE ALL ON FUNCTION {SESSION_SIGNATURES} FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {SESSION_SIGNATURES} TO {ROLE};
"""
NO_SESSION_FUNCTIONS = f"DROP FUNCTION {SESSION_SIGNATURES}"


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_row_level_security"),
        ("accounts", "0004_api_tokens"),
        ("sessions", "0001_initial"),
        ("admin", "0003_logentry_add_action_flag_choices"),
    ]

    operations = [
        migrations.RunSQL("CREATE EXTENSION IF NOT EXISTS pgcrypto", migrations.RunSQL.noop),
        migrations.RunSQL(VERIFIED_GYM, UNVERIFIED_GYM),
        migrations.RunSQL(policies("(SELECT reps_current_gym())"), policies("reps_current_gym()")),
        migrations.RunSQL(NO_TEMP, TEMP),
        migrations.RunSQL(SESSION_FUNCTIONS, NO_SESSION_FUNCTIONS),
        migrations.RunSQL(f"REVOKE ALL ON django_session, django_admin_log FROM {ROLE}",
                          f"GRANT SELECT, INSERT, UPDATE, DELETE ON django_session, django_admin_log TO {ROLE}"),
        *[migrations.RunSQL(*through_user_policy(table)) for table in USER_TABLES],
    ]
