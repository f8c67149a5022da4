"""Containment (core migration 0003): what a login that knows only the application role's password reaches.

The suite logs in as a superuser; these tests take the application role's
privileges (SET LOCAL ROLE) and do what such a login could do by hand. The
production-server test does the same over a real reps_app login.
"""

import datetime
import json

import psycopg
import pytest
from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import UserProfile
from accounts.tests.factories import PASSWORD, RoleFactory, UserFactory, api_token
from leads.models import Lead
from leads.tests.factories import LeadFactory
from reps.core.sessions import SessionStore
from reps.tenancy.database import (
    OUT_OF_REACH,
    READ_ONLY,
    gym_proof,
    gym_scope,
    set_transaction_gym,
    transaction_gym,
)

pytestmark = pytest.mark.django_db

APP_ROLE = settings.DATABASE_APP_ROLE
GYM_TABLES = ["leads_lead", "accounts_apitoken", "accounts_user", "accounts_userprofile", "gyms_gym"]


def as_application_role(*statements):
    """Run statements as the application role in a savepoint that is rolled back; the last one's rows."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {APP_ROLE}")
        for sql, params in statements:
            cursor.execute(sql, params)
        rows = cursor.fetchall()
        transaction.set_rollback(True)
    return rows


def counts_when_set_by_hand(gym_id, proof):
    set_gym = ("SELECT set_config('reps.gym_id', %s, false), set_config('reps.gym_proof', %s, false)",
               [str(gym_id), proof])
    count = " UNION ALL ".join(f"SELECT '{table}', count(*) FROM {table}" for table in GYM_TABLES)
    return dict(as_application_role(set_gym, (count, None)))


@pytest.fixture
def everything_of_a_gym(gym):
    user = UserFactory(gym=gym)
    UserProfile.objects.create(user=user, phone="+12125550199")
    api_token(user)
    LeadFactory(gym=gym)


@pytest.mark.parametrize("proof", ["none", "forged", "another gym's"])
def test_a_gym_set_by_hand_without_its_proof_shows_nothing_of_it(gym, other_gym, everything_of_a_gym, proof):
    forged = {"none": "", "forged": "0" * 64, "another gym's": gym_proof(other_gym.pk)}[proof]

    assert counts_when_set_by_hand(gym.pk, forged) == {table: 0 for table in GYM_TABLES}


def test_with_the_applications_proof_the_same_statements_see_the_gym(gym, everything_of_a_gym):
    """What the test above counts is there: the application's own proof shows it."""
    counts = counts_when_set_by_hand(gym.pk, gym_proof(gym.pk))

    assert counts == {table: 1 for table in GYM_TABLES}


def test_a_statement_shown_one_gyms_proof_cannot_switch_to_another_gym_half_way(gym, other_gym):
    """The policy checks the gym with its proof at each check: set_config() between rows gains nothing."""
    LeadFactory.create_batch(3, gym=gym)
    LeadFactory.create_batch(3, gym=other_gym)
    own = ("SELECT set_config('reps.gym_id', %s, true), set_config('reps.gym_proof', %s, true)",
           [str(gym.pk), gym_proof(gym.pk)])
    switching = ("SELECT gym_id::text FROM leads_lead, generate_series(1, 2) n"
                 " WHERE set_config('reps.gym_id', %s, true) IS NOT NULL", [str(other_gym.pk)])

    seen = as_application_role(own, switching)

    assert {row[0] for row in seen} <= {str(gym.pk)}


def test_a_joined_tables_policy_is_planned_with_the_querys_gym(gym):
    """The policies compare with reps_current_gym() unwrapped (migration 0004): the planner equates it with
    the query's gym, so a joined table is planned for that gym, not for an unknown parameter."""
    from calls.models import CallLog
    with transaction.atomic(), gym_scope(gym):
        sql, params = CallLog.objects.for_gym(gym).upcoming(20).query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "InitPlan" not in plan, plan
    assert f"One-Time Filter: (reps_current_gym() = '{gym.pk}'::uuid)" in plan, plan


@pytest.mark.parametrize("table", OUT_OF_REACH)
def test_the_application_role_cannot_read_the_key_the_sessions_or_the_admin_log(table):
    with pytest.raises(DatabaseError, match="permission denied"):
        as_application_role((f"SELECT * FROM {table}", None))


@pytest.mark.parametrize("table", READ_ONLY)
def test_the_application_role_cannot_change_what_every_gym_shares(table):
    """A sales person would be an owner in every gym if the roles' names could be swapped."""
    with pytest.raises(DatabaseError, match="permission denied"):
        as_application_role((f"DELETE FROM {table}", None))
    assert len(as_application_role((f"SELECT count(*) FROM {table}", None))) == 1  # and it reads them


@pytest.mark.parametrize("statement", [
    "CREATE TEMPORARY TABLE peek (id uuid)",
    "CREATE FUNCTION pg_temp.peek(text) RETURNS boolean LANGUAGE sql AS 'SELECT true'",
    "CREATE FUNCTION public.peek(text) RETURNS boolean LANGUAGE sql AS 'SELECT true'",
    "CREATE VIEW public.peek AS SELECT 1 AS one",
])
def test_the_application_role_can_create_no_function_table_or_view(statement):
    """A function of one's own, called where another gym's rows are read, could watch them go by."""
    with pytest.raises(DatabaseError, match="permission denied"):
        as_application_role((statement, None))


def test_the_gym_proof_is_not_in_the_sql_other_sessions_see(gym):
    """pg_stat_activity shows a session's SQL to every session of its login: the proof travels apart."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with transaction.atomic():
        set_transaction_gym(gym.pk)
        with psycopg.connect(**watcher_settings(), autocommit=True) as watcher:
            seen = watcher.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0]
        transaction.set_rollback(True)

    assert "reps.gym_proof" in seen  # the statement that set it
    assert gym_proof(gym.pk) not in seen


def test_lead_search_takes_terms_as_data_only(gym):
    LeadFactory(gym=gym, first_name="O'Brien")
    hostile = [
        [[["first_name) OR true --", ""]]],  # a column it does not name itself
        [[["first_name", 1]]],  # a pattern that is no string
        [],  # nothing to match
        [[]],
        {"first_name": ""},
    ]
    with transaction.atomic(), gym_scope(gym):
        for clauses in hostile:
            with pytest.raises(DatabaseError, match="lead search"), transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT * FROM reps_lead_matches(%s::jsonb, 20)", [json.dumps(clauses)])
        leads = Lead.objects.for_gym(gym)
        assert [lead.first_name for lead in leads.search("o'brien")] == ["O'Brien"]
        assert list(leads.search("'); SELECT 1; --")) == []


def test_lead_search_finds_nothing_of_another_gym_even_when_asked_by_hand(gym, other_gym):
    LeadFactory(gym=other_gym, first_name="Zelda")
    every = json.dumps([[["first_name", ""]]])  # every name contains ''
    with transaction.atomic(), gym_scope(gym):
        assert Lead.objects.for_gym(gym).search("zelda").count() == 0
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM reps_lead_matches(%s::jsonb, NULL)", [every])
            assert cursor.fetchone()[0] == 0
    set_gym = ("SELECT set_config('reps.gym_id', %s, false)", [str(other_gym.pk)])
    assert as_application_role(set_gym, ("SELECT count(*) FROM reps_lead_matches(%s::jsonb, NULL)", [every])) == [
        (0,)]


def test_sessions_work_for_the_application_role_one_key_at_a_time():
    """Saved, loaded, updated, deleted and cleared through the functions, as the application role."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {APP_ROLE}")
        session = SessionStore()
        session["who"] = "someone"
        session.save()
        key = session.session_key
        assert SessionStore(key).load() == {"who": "someone"} and session.exists(key)

        again = SessionStore(key)
        again["who"] = "someone else"
        again.save()
        assert SessionStore(key).load() == {"who": "someone else"}

        SessionStore(key).delete()
        assert SessionStore(key).load() == {} and not session.exists(key)
        with pytest.raises(UpdateError):  # signed out elsewhere meanwhile: not brought back
            again.save()

        stale = SessionStore()
        stale.set_expiry(timezone.now() - datetime.timedelta(seconds=1))
        stale.save()
        fresh = SessionStore()
        fresh.save()
        SessionStore.clear_expired()
        assert not session.exists(stale.session_key) and session.exists(fresh.session_key)
        assert SessionStore(stale.session_key).load() == {}
        transaction.set_rollback(True)


def test_a_sessions_data_copied_under_another_key_is_no_session():
    """Read by someone who had its key, and saved again under a key of their own: empty, signed out."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {APP_ROLE}")
        session = SessionStore()
        session["_auth_user_id"] = "someone"
        session.save()
        cursor.execute("SELECT reps_session_save('copiedsessionkey00000000000000001', reps_session_load(%s),"
                       " now() + interval '1 day', true)", [session.session_key])
        copied = SessionStore("copiedsessionkey00000000000000001")
        assert copied.exists(copied.session_key) and copied.load() == {}
        assert SessionStore(session.session_key).load() == {"_auth_user_id": "someone"}
        transaction.set_rollback(True)


def test_no_credential_or_written_value_is_in_the_sql_other_sessions_see(gym):
    """A token, a session key, a sign-in email and the values a request writes: none in pg_stat_activity."""
    user = UserFactory(gym=gym, role=RoleFactory(name="owner"))
    token = api_token(user)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    seen = []

    def watch(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        with psycopg.connect(**watcher_settings(), autocommit=True) as watcher:
            seen.append(watcher.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0])
        return result

    with connection.execute_wrapper(watch):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        created = client.post("/api/v1/leads/", {"first_name": "Confidential", "last_name": "Person",
                                                 "phone": "+12125550142", "notes": "secret note"}, format="json")
        session = SessionStore()
        session["x"] = 1
        session.save()
        SessionStore(session.session_key).load()
        signed_in = APIClient().post("/api/v1/auth/token/", {"email": user.email, "password": PASSWORD},
                                     format="json")

    assert (created.status_code, signed_in.status_code) == (201, 200)
    text = "\n".join(seen)
    assert "reps_gym_of_token" in text and "INSERT INTO" in text and "reps_session_load" in text
    for secret in [token, session.session_key, "Confidential", "secret note", "+12125550142", user.email]:
        assert secret not in text, secret


def watcher_settings():
    """How to connect to the test database beside the test's own connection."""
    database = connection.settings_dict
    return {"host": database["HOST"], "port": database["PORT"] or 5432, "user": database["USER"],
            "dbname": database["NAME"]}


@pytest.mark.django_db
def test_a_tokens_row_is_read_only_with_its_key_and_digest_and_only_in_its_users_gym(gym, other_gym):
    from knox.crypto import hash_token
    from knox.settings import CONSTANTS

    from accounts.authentication import token_of

    mine = api_token(UserFactory(gym=gym))
    theirs = api_token(UserFactory(gym=other_gym))

    def row(token, digest=None, gym_id=gym.pk):
        return token_of(token[:CONSTANTS.TOKEN_KEY_LENGTH], digest or hash_token(token), gym_id)

    def database_gym():
        with connection.cursor() as cursor:
            cursor.execute("SELECT reps_current_gym()")
            return cursor.fetchone()[0]

    with transaction.atomic():
        set_transaction_gym(None)
        found = row(mine)
        assert found is not None and found.user.gym_id == gym.pk and found.user.gym.pk == gym.pk
        assert database_gym() == transaction_gym() == gym.pk  # the function set the gym, for what follows
        orm = type(found).objects.select_related("user__gym", "user__role").get(pk=found.pk)

        def columns(instance):
            return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}

        for ours, theirs_ in [(found, orm), (found.user, orm.user), (found.user.gym, orm.user.gym),
                              (found.user.role, orm.user.role)]:
            assert columns(ours) == columns(theirs_)  # what the ORM reads, to the microsecond
        assert row(theirs) is None  # another gym's token, in this gym's transaction
        assert row(theirs, gym_id=other_gym.pk) is not None and database_gym() == other_gym.pk
        assert row(mine, digest=hash_token(mine + "x")) is None  # the key without the rest of the token
        with connection.cursor() as cursor:  # the gym without the application's proof of it: nothing
            cursor.execute("SELECT reps_token_row(%s, %s, %s, %s)",
                           [mine[:CONSTANTS.TOKEN_KEY_LENGTH], hash_token(mine), str(gym.pk), "0" * 64])
            assert cursor.fetchone()[0] is None
        assert database_gym() is None
        transaction.set_rollback(True)
