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


# --- Row-level security ------------------------------------------------------
# The gym the current transaction works for, as scoping.set_transaction_gym()
# sets it (set_config(..., is_local => true)): NULL when none is set, so a
# policy keyed on it shows nothing. STABLE and plain SQL, so PostgreSQL inlines
# it and `gym_id = reps_current_gym()` is an index condition on (gym_id, ...).
CURRENT_GYM_FUNCTION = """
CREATE OR REPLACE FUNCTION reps_current_gym() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT NULLIF(current_setting('reps.gym_id', true), '')::uuid $$
"""


def gym_isolation_policy(table, column="gym_id", allow_insert_without_gym=False):
    """Row-level security on a tenant table: only the current gym's rows exist for the application role.

    Reads, updates and deletes see only rows whose `column` is the
    transaction's gym; inserts and updates may only write such rows. Table
    owners and roles with BYPASSRLS (migrations, the platform admin) are not
    affected. `allow_insert_without_gym` lets rows with no gym be written
    (but not read back), for the voice platform's inbox of unmatched events.
    """
    check = f'"{column}" = reps_current_gym()'
    if allow_insert_without_gym:
        check = f'({check} OR "{column}" IS NULL)'
    return (
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY;'
        f'CREATE POLICY gym_isolation ON "{table}" USING ("{column}" = reps_current_gym()) WITH CHECK ({check});',
        f'DROP POLICY gym_isolation ON "{table}"; ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY;',
    )


def application_role():
    """The role the application works as (settings.DATABASE_APP_ROLE), checked to be a plain identifier."""
    import re

    from django.conf import settings

    role = settings.DATABASE_APP_ROLE
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise ValueError(f"DATABASE_APP_ROLE must be a lower-case SQL identifier, not {role!r}.")
    return role


def grant_application_role(using="default", **kwargs):
    """Let the application role read and write every table, and nothing more (run after each migrate).

    It owns nothing, so it can neither change the schema nor switch
    row-level security off; django_migrations is read-only to it.
    """
    from django.db import connections

    role = application_role()
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            return  # the migration that creates it has not run yet
        cursor.execute(
            f"GRANT USAGE ON SCHEMA public TO {role};"
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};"
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};"
            f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON django_migrations FROM {role};"
        )


class PlatformRouter:
    """The platform admin's requests use the "platform" database login (DATABASE_PLATFORM_URL), when there is one.

    That login may bypass row-level security; the application's own login
    (DATABASE_URL) may not. Everything else uses the default database.
    """

    def db_for_read(self, model, **hints):
        return self._platform()

    def db_for_write(self, model, **hints):
        return self._platform()

    def allow_relation(self, obj1, obj2, **hints):
        return True  # one database behind two logins

    @staticmethod
    def _platform():
        from django.db import connections

        from .scoping import on_platform_database

        return "platform" if on_platform_database() and "platform" in connections.settings else None
