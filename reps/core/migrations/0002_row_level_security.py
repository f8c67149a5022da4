"""PostgreSQL row-level security: the application role sees one gym's rows, the one its transaction works for.

- The application role (settings.DATABASE_APP_ROLE, `reps_app`) is created
  if missing: it can log in, owns nothing, cannot bypass row-level security,
  and may read and write every table (reps.tenancy.database.grant_application_role,
  again after each migrate).
- Every table with a gym has the `gym_isolation` policy: rows whose gym is
  not `reps_current_gym()` (the transaction-local setting `reps.gym_id`)
  do not exist for it. The gym itself, its staff, and their API tokens too.
- The few questions that must be answered before a gym is known (whose
  token is this, whose email, which gym does this voice-platform call or
  phone number belong to, which gyms have calls due) are asked through
  SECURITY DEFINER functions that return a gym id and nothing else.

The role running migrations owns the tables and so is not subject to the
policies; so are superusers. See README "Tenancy in the database".
"""

from django.db import migrations

from reps.tenancy.database import CURRENT_GYM_FUNCTION, application_role, grant_application_role, gym_isolation_policy

ROLE = application_role()

CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
        CREATE ROLE {ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
    END IF;
    -- A migrating role that is not a superuser must be able to act as the
    -- application role: requests drop to it with SET LOCAL ROLE.
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT %I TO %I', '{ROLE}', current_user);
    END IF;
END $$;
"""

TENANT_TABLES = [
    "appointments_appointment",
    "calls_calllog",
    "calls_calltranscript",
    "calls_campaign",
    "core_outboxmessage",
    "gyms_aisettings",
    "gyms_branch",
    "gyms_gymsettings",
    "gyms_knowledgebaseentry",
    "gyms_voicesettings",
    "leads_lead",
    "leads_leadqualification",
    "leads_leadtag",
    "leads_leadtagassignment",
    "accounts_user",  # platform superusers have no gym: the application never sees them
]

TOKEN_POLICY = (
    # A token exists for the application only if its user does (in the current gym).
    "ALTER TABLE authtoken_token ENABLE ROW LEVEL SECURITY;"
    "CREATE POLICY gym_isolation ON authtoken_token"
    " USING (EXISTS (SELECT FROM accounts_user u WHERE u.id = user_id))"
    " WITH CHECK (EXISTS (SELECT FROM accounts_user u WHERE u.id = user_id));",
    "DROP POLICY gym_isolation ON authtoken_token; ALTER TABLE authtoken_token DISABLE ROW LEVEL SECURITY;",
)

# (name, arguments, what it returns, body): each answers with gym ids only.
ROUTING_FUNCTIONS = [
    ("reps_gym_of_token", "token_key text", "uuid",
     "SELECT u.gym_id FROM authtoken_token t JOIN accounts_user u ON u.id = t.user_id WHERE t.key = $1"),
    ("reps_gym_of_login", "login_email text", "uuid",
     "SELECT gym_id FROM accounts_user WHERE email = lower(btrim($1))"),
    ("reps_gym_of_user", "user_id uuid", "uuid",
     "SELECT gym_id FROM accounts_user WHERE id = $1"),
    ("reps_gym_of_platform_call", "platform_call_id text", "uuid",
     "SELECT gym_id FROM calls_calllog WHERE retell_call_id = $1"),
    # A number that two gyms share names neither.
    ("reps_gym_of_phone", "phone_number text", "uuid",
     "SELECT CASE WHEN count(*) = 1 THEN min(id::text)::uuid END FROM gyms_gym WHERE phone = $1 AND $1 <> ''"),
    ("reps_gyms_with_due_calls", "due_before timestamptz, stale_before timestamptz", "SETOF uuid",
     "SELECT DISTINCT gym_id FROM calls_calllog WHERE is_ai_call AND status = 'scheduled'"
     " AND retell_call_id IS NULL AND ((dispatched_at IS NULL AND start_time <= $1) OR dispatched_at < $2)"),
]


def routing_function(name, arguments, returns, body):
    signature = f"{name}({', '.join(argument.split()[-1] for argument in arguments.split(','))})"
    return (
        f"CREATE FUNCTION {name}({arguments}) RETURNS {returns} LANGUAGE sql STABLE SECURITY DEFINER"
        f" SET search_path = public, pg_temp AS $$ {body} $$;"
        f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC; GRANT EXECUTE ON FUNCTION {signature} TO {ROLE};",
        f"DROP FUNCTION {signature};",
    )


def grants(apps, schema_editor):
    grant_application_role(schema_editor.connection.alias)


def revoke(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROLE};"
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {ROLE};"
            f"REVOKE USAGE ON SCHEMA public FROM {ROLE};"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_outbox"),
        ("accounts", "0002_create_roles"),
        ("appointments", "0001_initial"),
        ("calls", "0003_covering_metrics_index"),
        ("gyms", "0003_voice_platform_key"),
        ("leads", "0004_search_indexes"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [
        # The role outlives this database (roles belong to the server): not dropped on the way back.
        migrations.RunSQL(CREATE_ROLE, migrations.RunSQL.noop),
        migrations.RunPython(grants, revoke),
        migrations.RunSQL(CURRENT_GYM_FUNCTION, "DROP FUNCTION reps_current_gym()"),
        *[migrations.RunSQL(*gym_isolation_policy(table)) for table in TENANT_TABLES],
        migrations.RunSQL(*gym_isolation_policy("gyms_gym", column="id")),
        migrations.RunSQL(*gym_isolation_policy("calls_voicewebhookevent", allow_insert_without_gym=True)),
        migrations.RunSQL(*TOKEN_POLICY),
        *[migrations.RunSQL(*routing_function(*function)) for function in ROUTING_FUNCTIONS],
    ]
