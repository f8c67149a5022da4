"""What distributing the tables by gym would need (Citus-style), read from the live schema of the test database.

Past one database the next step is sharding by gym: every tenant table distributed on gym_id, so that one gym's
rows live on one node and a gym's request is answered there. Such a schema keeps these rules (README "Capacity
and scaling", "Past one database: distributing by gym"):

- a tenant table is one with a gym_id column; its gym_id is NOT NULL (a row of no gym has no node);
- its primary key, and every unique constraint, unique index and exclusion constraint, includes gym_id (a node
  can only check uniqueness among its own rows);
- every foreign key between two tenant tables includes gym_id on both sides, paired (the row it points at is on
  the same node); to a table without gym_id (roles, Django's own, and the gyms themselves, copied to every node
  as reference tables) it need not;
- a table without gym_id has no foreign key to a tenant table (a reference table cannot point into sharded rows).

Most of these do not hold today: ids are UUID primary keys alone, and Django's own foreign keys are on the id
alone (beside the same-gym composite keys). KNOWN_GAPS is the honest list of what breaks them, table by table:
the test fails when a new table or constraint breaks a rule without being listed, and when a listed gap has
been fixed but is still listed, so the list (and the README's summary of it) stays true.
"""

import pytest
from django.db import connection

# Each gap as schema_gaps() words it. A new entry needs a reason: prefer including gym_id.
KNOWN_GAPS: dict[str, set[str]] = {
    # Tenant tables (a gym_id column). Every one has a UUID primary key alone; Django's foreign keys are on the
    # id alone, beside the same-gym composite keys (x_id, gym_id) -> (id, gym_id), which would be the ones kept.
    "accounts_user": {
        "gym_id may be NULL",  # platform superusers belong to no gym
        "primary key (id)",
        "unique (email)",  # an email signs in to one account whatever its gym: a lookup before any gym is known
    },
    "appointments_appointment": {
        "primary key (id)",
        "exclusion appointment_staff_no_overlap",  # (staff_id =, time &&): a staff member is of one gym anyway
        "foreign key (branch_id) -> gyms_branch (id)",
        "foreign key (call_id) -> calls_calllog (id)",
        "foreign key (lead_id) -> leads_lead (id)",
        "foreign key (staff_id) -> accounts_user (id)",
    },
    "calls_calllog": {
        "primary key (id)",
        "unique (retell_call_id) where (retell_call_id IS NOT NULL)",  # the platform's id: found before the gym
        "foreign key (campaign_id) -> calls_campaign (id)",
        "foreign key (lead_id) -> leads_lead (id)",
    },
    "calls_calltranscript": {"primary key (id)", "unique (call_id)", "foreign key (call_id) -> calls_calllog (id)"},
    "calls_campaign": {"primary key (id)"},
    "calls_voicewebhookevent": {
        "gym_id may be NULL",  # events of no known gym, kept for review
        "primary key (id)",
        "unique (platform_call_id, event)",  # one event once, found before its gym is known
        "foreign key (call_log_id) -> calls_calllog (id)",  # no same-gym twin: the gym may be NULL
    },
    "core_outboxmessage": {"primary key (id)"},
    "gyms_aisettings": {"primary key (id)"},
    "gyms_branch": {"primary key (id)"},
    "gyms_gymsettings": {"primary key (id)"},
    "gyms_knowledgebaseentry": {"primary key (id)"},
    "gyms_voicesettings": {"primary key (id)"},
    "leads_lead": {"primary key (id)", "foreign key (branch_id) -> gyms_branch (id)"},
    "leads_leadimport": {"primary key (id)", "foreign key (created_by_id) -> accounts_user (id)"},
    "leads_leadqualification": {"primary key (id)", "unique (lead_id)", "foreign key (lead_id) -> leads_lead (id)"},
    "leads_leadtag": {"primary key (id)"},
    "leads_leadtagassignment": {
        "primary key (id)",
        "unique (lead_id, tag_id)",
        "foreign key (lead_id) -> leads_lead (id)",
        "foreign key (tag_id) -> leads_leadtag (id)",
    },
    "notifications_notification": {
        "primary key (id)",
        "foreign key (appointment_id) -> appointments_appointment (id)",
        "foreign key (lead_id) -> leads_lead (id)",
    },
    "notifications_notificationtemplate": {"primary key (id)"},
    # Tables without gym_id that point at a tenant table (the staff): each would need the user's gym_id to be
    # distributed with its user (Django's auth and admin tables are Django's own).
    "accounts_apitoken": {"no gym_id, foreign key (user_id) -> accounts_user (id)"},
    "accounts_user_groups": {"no gym_id, foreign key (user_id) -> accounts_user (id)"},
    "accounts_user_user_permissions": {"no gym_id, foreign key (user_id) -> accounts_user (id)"},
    "accounts_userprofile": {"no gym_id, foreign key (user_id) -> accounts_user (id)"},
    "authtoken_token": {"no gym_id, foreign key (user_id) -> accounts_user (id)"},  # unused, kept by its migrations
    "django_admin_log": {"no gym_id, foreign key (user_id) -> accounts_user (id)"},
}

GYM_COLUMN = "gym_id"

TABLES_SQL = """
SELECT c.relname, a.attnotnull
FROM pg_class c
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = %(gym)s AND NOT a.attisdropped
WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
"""
# Primary keys and unique indexes (those of unique constraints among them), with their key columns or
# expressions and a partial index's condition.
UNIQUE_SQL = """
SELECT t.relname, i.indisprimary,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k),
       pg_get_expr(i.indpred, i.indrelid, true)
FROM pg_index i
JOIN pg_class t ON t.oid = i.indrelid
WHERE t.relnamespace = %(schema)s::regnamespace AND (i.indisprimary OR i.indisunique)
"""
EXCLUSION_SQL = """
SELECT t.relname, con.conname,
       ARRAY(SELECT a.attname FROM unnest(con.conkey, con.conexclop) WITH ORDINALITY AS k(attnum, op, n)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             JOIN pg_operator o ON o.oid = k.op
             WHERE o.oprname = '=' ORDER BY k.n)
FROM pg_constraint con
JOIN pg_class t ON t.oid = con.conrelid
WHERE con.contype = 'x' AND t.relnamespace = %(schema)s::regnamespace
"""
FOREIGN_KEY_SQL = """
SELECT t.relname, r.relname,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.n),
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.n)
FROM pg_constraint con
JOIN pg_class t ON t.oid = con.conrelid
JOIN pg_class r ON r.oid = con.confrelid
WHERE con.contype = 'f' AND t.relnamespace = %(schema)s::regnamespace
"""


def schema_gaps(schema="public"):
    """{table: {gap}}: what in the live schema breaks the rules of a schema distributed by gym."""
    params = {"schema": schema, "gym": GYM_COLUMN}
    gaps: dict[str, set[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(TABLES_SQL, params)
        tables = {name: not_null for name, not_null in cursor.fetchall()}  # not_null is None without gym_id
        tenant = {name for name, not_null in tables.items() if not_null is not None}
        for table in tenant:
            if not tables[table]:
                gaps.setdefault(table, set()).add(f"{GYM_COLUMN} may be NULL")

        cursor.execute(UNIQUE_SQL, params)
        with_primary_key = set()
        for table, primary, columns, condition in cursor.fetchall():
            if primary:
                with_primary_key.add(table)
            if table in tenant and GYM_COLUMN not in columns:
                kind = "primary key" if primary else "unique"
                where = f" where ({condition})" if condition else ""
                gaps.setdefault(table, set()).add(f"{kind} ({', '.join(columns)}){where}")
        for table in tenant - with_primary_key:
            gaps.setdefault(table, set()).add("no primary key")

        cursor.execute(EXCLUSION_SQL, params)
        for table, name, equal_columns in cursor.fetchall():
            if table in tenant and GYM_COLUMN not in equal_columns:
                gaps.setdefault(table, set()).add(f"exclusion {name}")

        cursor.execute(FOREIGN_KEY_SQL, params)
        for table, target, columns, target_columns in cursor.fetchall():
            key = f"foreign key ({', '.join(columns)}) -> {target} ({', '.join(target_columns)})"
            if table in tenant and target in tenant:
                if (GYM_COLUMN, GYM_COLUMN) not in zip(columns, target_columns, strict=True):
                    gaps.setdefault(table, set()).add(key)
            elif target in tenant:
                gaps.setdefault(table, set()).add(f"no {GYM_COLUMN}, {key}")
    return gaps


def tenant_tables(schema="public"):
    with connection.cursor() as cursor:
        cursor.execute(TABLES_SQL + " AND a.attname IS NOT NULL", {"schema": schema, "gym": GYM_COLUMN})
        return {row[0] for row in cursor.fetchall()}


def differences(found, known):
    """(gaps found but not listed, gaps listed but no longer found), each {table: sorted gaps}."""
    new = {table: sorted(gaps - known.get(table, set())) for table, gaps in found.items()}
    fixed = {table: sorted(gaps - found.get(table, set())) for table, gaps in known.items()}
    return {t: g for t, g in sorted(new.items()) if g}, {t: g for t, g in sorted(fixed.items()) if g}


@pytest.mark.django_db
def test_no_tenant_table_breaks_a_rule_of_distribution_by_gym_that_is_not_listed():
    new, _ = differences(schema_gaps(), KNOWN_GAPS)

    assert new == {}, (
        "These break a rule of a schema distributed by gym (see this file's docstring): include gym_id "
        "(a primary key or unique key with gym_id, a foreign key on (x_id, gym_id) -> (id, gym_id) as "
        "reps.tenancy.database.same_gym_foreign_key makes), or list them in KNOWN_GAPS with the reason.")


@pytest.mark.django_db
def test_every_listed_gap_is_still_there():
    _, fixed = differences(schema_gaps(), KNOWN_GAPS)

    assert fixed == {}, "These no longer break the rules: take them off KNOWN_GAPS (and the README's summary)."


@pytest.mark.django_db
def test_what_already_holds_for_distribution():
    """The README says these hold: row-level security on every tenant table's gym_id, an index that leads with
    gym_id on each (the one a node would serve a gym's queries with), and a same-gym key on both sides of every
    foreign key between tenant tables besides Django's own."""
    tables = tenant_tables()
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relrowsecurity AND relname = ANY(%s)", [list(tables)])
        with_row_security = {row[0] for row in cursor.fetchall()}
        cursor.execute("""
            SELECT DISTINCT t.relname FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]
            WHERE a.attname = %s AND t.relname = ANY(%s)""", [GYM_COLUMN, list(tables)])
        leading_with_gym = {row[0] for row in cursor.fetchall()}
        cursor.execute(FOREIGN_KEY_SQL, {"schema": "public"})
        foreign_keys = cursor.fetchall()

    assert {"leads_lead", "calls_calllog", "appointments_appointment", "accounts_user"} <= tables
    assert "gyms_gym" not in tables  # the gyms: a reference table, copied to every node
    assert sorted(tables - with_row_security) == []
    assert sorted(tables - leading_with_gym) == []
    # Every tenant-to-tenant reference on a column other than gym_id has its same-gym twin, (x_id, gym_id).
    composite = {(table, columns[0]) for table, target, columns, _ in foreign_keys
                 if table in tables and target in tables and GYM_COLUMN in columns[1:]}
    single = {(table, columns[0]) for table, target, columns, _ in foreign_keys
              if table in tables and target in tables and columns != [GYM_COLUMN] and len(columns) == 1}
    assert sorted(single - composite) == [("calls_voicewebhookevent", "call_log_id")]  # its gym may be NULL
    assert composite <= single and len(composite) == len(single) - 1


PROBE_SCHEMA = """
CREATE SCHEMA distribution_probe;
SET LOCAL search_path = distribution_probe;
CREATE TABLE gyms (id int PRIMARY KEY, slug text UNIQUE);
CREATE TABLE good (
    gym_id int NOT NULL REFERENCES gyms (id), id int, code text,
    PRIMARY KEY (gym_id, id), UNIQUE (gym_id, code));
CREATE TABLE bad (
    gym_id int REFERENCES gyms (id), id int PRIMARY KEY, code text UNIQUE, good_id int, during tstzrange,
    FOREIGN KEY (gym_id, good_id) REFERENCES good (gym_id, id),
    EXCLUDE USING gist (good_id WITH =, during WITH &&));
CREATE UNIQUE INDEX bad_lower_code ON bad (lower(code)) WHERE good_id IS NOT NULL;
CREATE UNIQUE INDEX good_gym_lower_code ON good (gym_id, lower(code));
ALTER TABLE bad ADD FOREIGN KEY (good_id, gym_id) REFERENCES good (id, gym_id);
ALTER TABLE bad ADD FOREIGN KEY (gym_id, id) REFERENCES good (id, gym_id);
CREATE TABLE keyless (gym_id int NOT NULL, id int);
CREATE TABLE shared_note (id int PRIMARY KEY, good_gym int, good_id int, gym int REFERENCES gyms (id),
    FOREIGN KEY (good_gym, good_id) REFERENCES good (gym_id, id));
"""


@pytest.mark.django_db
def test_the_rules_find_each_kind_of_gap():
    """On tables made for it (in the test's transaction, rolled back): each rule finds what breaks it, and
    only that."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        cursor.execute(PROBE_SCHEMA)
        cursor.execute("SET LOCAL search_path = public")

    assert schema_gaps("distribution_probe") == {
        "bad": {
            "gym_id may be NULL",
            "primary key (id)",
            "unique (code)",
            "unique (lower(code)) where (good_id IS NOT NULL)",
            "exclusion bad_good_id_during_excl",
            "foreign key (gym_id, id) -> good (id, gym_id)",  # gym_id on both sides, but not paired
        },
        "keyless": {"no primary key"},
        "shared_note": {"no gym_id, foreign key (good_gym, good_id) -> good (gym_id, id)"},
    }
    assert tenant_tables("distribution_probe") == {"good", "bad", "keyless"}
