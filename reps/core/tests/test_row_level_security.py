"""PostgreSQL row-level security: inside a gym's transaction, no query sees or writes another gym's rows.

The suite logs in as a superuser (it creates the test database); each
request and job transaction acts as the application role, as in production,
so these tests see what the application sees. test_production_server.py
runs the server itself with the application's own login.
"""

import re

import pytest
from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from rest_framework.response import Response

from accounts.tests.factories import UserFactory
from accounts.views import UserViewSet
from appointments.tests.factories import AppointmentFactory
from appointments.views import AppointmentViewSet
from calls.tests.factories import CallLogFactory
from calls.views import CallLogViewSet
from leads.analytics import DASHBOARD_SQL
from leads.models import Lead, LeadStatus
from leads.tests.factories import LeadFactory
from leads.views import LeadViewSet
from reps.tenancy.database import gym_scope, set_transaction_gym

APP_ROLE = settings.DATABASE_APP_ROLE


def tenant_tables():
    """Every table with a gym: the models with a `gym` foreign key, and the gyms themselves."""
    tables = {model._meta.db_table for model in apps.get_models()
              if any(field.name == "gym" for field in model._meta.concrete_fields)}
    return sorted(tables | {"gyms_gym", "authtoken_token", "accounts_apitoken"})


def rows_by_gym(sql):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


@pytest.mark.django_db
def test_every_tenant_table_has_a_gym_isolation_policy():
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relrowsecurity AND relkind = 'r'")
        protected = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT tablename FROM pg_policies WHERE policyname = 'gym_isolation'")
        with_policy = {row[0] for row in cursor.fetchall()}

    assert len(tenant_tables()) >= 17
    assert [table for table in tenant_tables() if table not in protected or table not in with_policy] == []


@pytest.mark.django_db
def test_the_application_role_owns_nothing_and_cannot_bypass_row_level_security():
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s",
                       [APP_ROLE])
        assert cursor.fetchone() == (False, False, False, False)
        cursor.execute("SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = %s",
                       [APP_ROLE])
        assert cursor.fetchone()[0] == 0
        # A member of no other role, so it cannot SET ROLE to one that may bypass.
        cursor.execute("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member"
                       " WHERE r.rolname = %s", [APP_ROLE])
        assert cursor.fetchone()[0] == 0


@pytest.mark.parametrize("url, viewset, make", [
    ("leads", LeadViewSet, lambda gym: LeadFactory(gym=gym)),
    ("calls", CallLogViewSet, lambda gym: CallLogFactory(lead=LeadFactory(gym=gym))),
    ("appointments", AppointmentViewSet, lambda gym: AppointmentFactory(lead=LeadFactory(gym=gym))),
    ("users", UserViewSet, lambda gym: UserFactory(gym=gym)),
])
def test_an_unscoped_query_inside_a_gym_request_gets_nothing_of_another_gym(
        url, viewset, make, gym, other_gym, api_client_for, monkeypatch):
    mine = make(gym)
    theirs = make(other_gym)
    # The bug this guards against: a view that forgot its gym altogether.
    monkeypatch.setattr(viewset, "get_queryset", lambda self: viewset.model.objects.unscoped().all())
    monkeypatch.setattr(viewset, "filterset_class", None)

    listed = api_client_for(UserFactory(gym=gym)).get(f"/api/v1/{url}/?page_size=100")

    assert listed.status_code == 200
    ids = {row["id"] for row in listed.json()["results"]}
    assert str(mine.pk) in ids and str(theirs.pk) not in ids


def test_raw_sql_inside_a_gym_request_sees_only_that_gym(gym, other_gym, api_client_for, monkeypatch):
    for owner in (gym, other_gym):
        LeadFactory.create_batch(2, gym=owner)
    CallLogFactory(lead=LeadFactory(gym=other_gym))
    sql = ("SELECT gym_id::text, count(*) FROM (SELECT gym_id FROM leads_lead UNION ALL SELECT gym_id FROM"
           " calls_calllog UNION ALL SELECT gym_id FROM accounts_user UNION ALL SELECT id FROM gyms_gym) rows"
           " GROUP BY 1")
    monkeypatch.setattr(LeadViewSet, "list", lambda self, request: Response(dict(rows_by_gym(sql))))

    seen = api_client_for(UserFactory(gym=gym)).get("/api/v1/leads/").json()

    assert list(seen) == [str(gym.pk)]


def test_with_no_gym_set_the_application_role_sees_no_rows(gym, add_one_of_everything):
    add_one_of_everything(gym)
    with transaction.atomic():
        set_transaction_gym(None)
        counts = {table: rows_by_gym(f'SELECT count(*) FROM "{table}"')[0][0] for table in tenant_tables()}
        transaction.set_rollback(True)

    assert counts == {table: 0 for table in tenant_tables()}


def test_the_database_refuses_to_write_another_gyms_rows(gym, other_gym):
    theirs = LeadFactory(gym=other_gym, first_name="Theirs")
    with transaction.atomic(), gym_scope(gym):
        # Updates and deletes do not find another gym's row...
        assert Lead.objects.unscoped().filter(pk=theirs.pk).update(first_name="Mine now") == 0
        assert Lead.objects.unscoped().filter(pk=theirs.pk).delete()[0] == 0
        # ...and a new row for another gym is refused.
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            LeadFactory.build(gym=other_gym).save()
    theirs.refresh_from_db()
    assert theirs.first_name == "Theirs"


def test_a_gym_scope_puts_back_the_transactions_settings_when_it_ends(gym, other_gym):
    def settings_now():
        return rows_by_gym("SELECT current_setting('role'), coalesce(current_setting('reps.gym_id', true), '')")[0]

    before = settings_now()
    with gym_scope(gym):
        assert settings_now() == (APP_ROLE, str(gym.pk))
        with gym_scope(other_gym):
            assert settings_now() == (APP_ROLE, str(other_gym.pk))
        assert settings_now() == (APP_ROLE, str(gym.pk))
    assert settings_now() == before


@pytest.mark.django_db(transaction=True)
def test_a_pooled_connection_carries_no_gym_after_its_transaction(gym):
    with transaction.atomic(), gym_scope(gym):
        inside = rows_by_gym("SELECT current_user, current_setting('reps.gym_id', true)")[0]

    after = rows_by_gym("SELECT current_user, coalesce(current_setting('reps.gym_id', true), '')")[0]

    assert inside == (APP_ROLE, str(gym.pk))
    assert after == (connection.settings_dict["USER"], "")


@pytest.mark.parametrize("sql", [
    # The policy alone: its gym condition is the index condition.
    "SELECT id FROM leads_lead ORDER BY created_at DESC LIMIT 20",
    "SELECT count(*) FROM calls_calllog WHERE start_time >= now() - interval '30 days'",
    # With the application's own gym filter beside the policy's.
    "SELECT id FROM leads_lead WHERE gym_id = %(gym)s ORDER BY created_at DESC LIMIT 20",
    "SELECT count(*) FROM calls_calllog WHERE gym_id = %(gym)s AND start_time >= now() - interval '30 days'",
    "SELECT id FROM appointments_appointment WHERE gym_id = %(gym)s AND status = 'scheduled'"
    " AND scheduled_time >= now() ORDER BY scheduled_time LIMIT 20",
])
def test_the_policies_keep_the_gym_indexes_usable(gym, sql):
    with transaction.atomic(), gym_scope(gym):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, {"gym": gym.pk})
            plan = "\n".join(row[0] for row in cursor.fetchall())

    # An index scan on a (gym, ...) index, its condition on the gym: no table scan, no per-row policy filter.
    assert "Seq Scan" not in plan and re.search(r"Index Cond: \(+gym_id = ", plan), plan
    assert "Filter: (gym_id" not in plan, plan


def test_search_sees_only_the_gyms_leads_and_nothing_without_a_gym(gym, other_gym):
    mine = LeadFactory(gym=gym, first_name="Zelda")
    LeadFactory(gym=other_gym, first_name="Zelda")
    with transaction.atomic(), gym_scope(gym):
        assert list(Lead.objects.for_gym(gym).search("zelda")) == [mine]
        assert list(Lead.objects.for_gym(gym).matching("zel")) == [mine]
    # The function the search asks reads leads_lead as its owner, and applies the policy's rule itself.
    every = '[[["first_name", ""]]]'  # every name contains ''
    with transaction.atomic(), gym_scope(gym):
        assert rows_by_gym(f"SELECT * FROM reps_lead_matches('{every}', NULL)") == [(mine.pk,)]
    with transaction.atomic():
        set_transaction_gym(None)
        assert rows_by_gym(f"SELECT * FROM reps_lead_matches('{every}', NULL)") == []
        transaction.set_rollback(True)


def test_the_dashboards_date_bound_can_be_an_index_condition(gym):
    """A bound computed inside AT TIME ZONE from a joined row is not leakproof: under the policy it could
    only filter every lead of the gym (100,000 rows read instead of a month's, in make bench). As one
    value ($n) it is a plain timestamp comparison, which an index condition may hold."""
    params = {"gym_id": gym.pk, "statuses": list(LeadStatus.values), "days": 30, "min_source_leads": 10}
    with transaction.atomic(), gym_scope(gym):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + DASHBOARD_SQL, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())

    assert re.search(r"created_at >= \$\d", plan), plan


@pytest.mark.django_db(transaction=True)
def test_a_gym_set_by_one_transaction_is_never_assumed_by_the_next(gym, api_client_for):
    """A request commits acting for its gym; a job's transaction after it must set its own gym, not skip it.

    (The benchmark's statement counts showed it: reads after an API request ran with no gym set at all.)
    """
    client = api_client_for(UserFactory(gym=gym))
    with gym_scope(gym):  # a job's scope, entered outside any transaction
        assert client.get("/api/v1/leads/").status_code == 200  # its transaction acted for the gym, and committed
        with transaction.atomic(), gym_scope(gym):
            assert rows_by_gym("SELECT current_setting('reps.gym_id', true), current_user")[0] == (
                str(gym.pk), APP_ROLE)
