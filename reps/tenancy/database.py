"""The gym in the database: transaction-local settings, the gym-finding functions, what the migrations install.

PostgreSQL's row-level security keeps every tenant table to one gym: the
policy `gym_isolation` shows the application role only the rows whose gym is
the transaction's (`reps_current_gym()`: the transaction-local setting
`reps.gym_id`, believed only with `reps.gym_proof`, its HMAC under a key
that the application derives from SECRET_KEY and the application role cannot
read; see core's migration 0003). `gym_scope(gym)` inside a transaction sets
both, with the role, for that transaction only, so a pooled connection never
carries the last gym. Outside a transaction it cannot, and the database then
shows no gym's rows.

The few questions asked before any gym is known (whose token is this, whose
email, which gym does this voice-platform call or phone number belong to)
go through SECURITY DEFINER functions that answer with a gym id only
(`gym_of`).
"""

import hashlib
import hmac
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
    migrations,
    transaction,
)
from django.db.backends.base.base import BaseDatabaseWrapper

from .state import (
    ScopeError,
    current_gym_id,
    gym_id_of,
    on_platform_database,
    python_gym_scope,
)

# The settings a transaction had before set_transaction_gym() replaced them: (role, gym id text, proof).
Replaced = tuple[str, str, str] | None


def connection_failed(exc: BaseException) -> bool:
    """Whether a database error means the database could not be reached or talked to, not a refusal.

    OperationalError and InterfaceError, and any other error the driver raised itself, with no SQLSTATE from
    the server: behind PgBouncer, a server restarting under a transaction can leave psycopg "received 2
    results from command 'COMMIT'" (an InternalError), which is the connection failing, not the request.
    """
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return (isinstance(exc, DatabaseError) and not isinstance(exc, (DataError, IntegrityError))
            and exc.__cause__ is not None and getattr(exc.__cause__, "sqlstate", None) is None)

def gym_context_key() -> str:
    """The key of the gym proofs: derived from SECRET_KEY; the database holds it where reps_app cannot read it."""
    return hmac.new(settings.SECRET_KEY.encode(), b"reps.gym-context", hashlib.sha256).hexdigest()


def gym_proof(gym_id: uuid.UUID | None) -> str:
    """What shows the database that the application, which knows the key, set this gym: an HMAC of its id.

    reps_current_gym() believes reps.gym_id only with it, so a login that knows reps_app's password but
    not the key cannot act for a gym by setting a variable.
    """
    if gym_id is None:
        return ""
    return hmac.new(gym_context_key().encode(), str(gym_id).encode(), hashlib.sha256).hexdigest()


def _connection(using: str = DEFAULT_DB_ALIAS) -> BaseDatabaseWrapper:
    return connections[using]


def set_transaction_gym(gym_id: uuid.UUID | None, using: str = DEFAULT_DB_ALIAS) -> Replaced:
    """Make the open transaction act as the application role for this gym (None: for no gym, seeing nothing).

    The settings are transaction-local (set_config(..., true)), and so is
    the statement timeout they set (STATEMENT_TIMEOUT_MS). Outside a
    transaction this does nothing and returns None; inside one, it returns
    the settings it replaced, for restore_transaction_gym(). Nor does it act
    in the platform admin's requests, which work as the platform login.
    `using`: the database alias whose transaction it is (the read replica's,
    reps.tenancy.replica, acts for the request's gym the same way).
    """
    connection = _connection(using)
    if not connection.in_atomic_block:
        # Whatever an earlier transaction set is gone with it.
        _remember(connection, None)
        return None
    if on_platform_database():
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('role'), coalesce(current_setting('reps.gym_id', true), ''),"
            " coalesce(current_setting('reps.gym_proof', true), ''),"
            " set_config('role', %s, true), set_config('reps.gym_id', %s, true),"
            " set_config('reps.gym_proof', %s, true), set_config('statement_timeout', %s, true)",
            [settings.DATABASE_APP_ROLE, str(gym_id or ""), gym_proof(gym_id), str(settings.STATEMENT_TIMEOUT_MS)],
        )
        role, gym, proof, *_ = cursor.fetchone()
    _remember(connection, gym_id)
    return role, gym, proof


def gym_setting(gym_id: uuid.UUID) -> list[str]:
    """[gym id, proof]: for a SECURITY DEFINER function that sets the transaction's gym as set_transaction_gym()
    would, in the statement that also reads what it came for (accounts' reps_token_row). Call it inside a
    transaction that set_transaction_gym() has set already (the role, the timeout); from here on the transaction
    is taken to act for this gym, as the function makes it.
    """
    connection = _connection()
    if not connection.in_atomic_block or on_platform_database():
        raise ScopeError("A gym is set by a function only in a transaction of the application role.")
    _remember(connection, gym_id)
    return [str(gym_id), gym_proof(gym_id)]


GYM_PROOFS_NOT_BELIEVED = (
    "the database does not believe this process's gym proofs, so nothing it does sees a gym's rows:"
    " run migrate with this SECRET_KEY (it stores the key the proofs are checked with)"
)


def gym_proofs_believed() -> bool:
    """Whether the database believes this process's gym proofs: whether the last migrate ran with our SECRET_KEY.

    If not, every transaction acts for no gym and sees no rows; /healthz reports it.
    """
    probe = uuid.UUID(int=1)
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        set_transaction_gym(probe)
        with _connection().cursor() as cursor:
            cursor.execute("SELECT reps_current_gym()")
            believed: bool = cursor.fetchone()[0] == probe
        transaction.set_rollback(True)
    return believed


def _remember(connection: BaseDatabaseWrapper, gym_id: uuid.UUID | None) -> None:
    """Note which gym the open transaction acts for, with the transaction (its outermost atomic block)."""
    outermost = connection.atomic_blocks[0] if connection.atomic_blocks else None
    connection.reps_transaction_gym = (outermost, gym_id)  # type: ignore[attr-defined]


def transaction_gym(using: str = DEFAULT_DB_ALIAS) -> uuid.UUID | None:
    """The gym the open transaction (of the alias `using`) acts for, as this module set it; None outside a
    transaction.

    What is noted belongs to the transaction it was set in: a later
    transaction (a new outermost block) starts knowing nothing, so nothing
    skips setting its gym because an earlier request left one behind.
    """
    connection = _connection(using)
    if not connection.in_atomic_block:
        return None
    outermost, gym_id = getattr(connection, "reps_transaction_gym", (None, None))
    return gym_id if outermost is connection.atomic_blocks[0] else None


def restore_transaction_gym(replaced: Replaced) -> None:
    """Put back what set_transaction_gym() replaced, when the transaction goes on (a test's, a caller's)."""
    connection = _connection()
    if replaced is None or not connection.in_atomic_block or connection.needs_rollback:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('role', %s, true), set_config('reps.gym_id', %s, true),"
                       " set_config('reps.gym_proof', %s, true)", list(replaced))
    _remember(connection, uuid.UUID(replaced[1]) if replaced[1] else None)


@contextmanager
def gym_scope(gym_or_id: Any) -> Iterator[None]:
    """Work for this gym: tenant queries need no gym, and in a transaction the database sees only its rows."""
    gym_id = gym_id_of(gym_or_id)
    if current_gym_id() == gym_id and transaction_gym() == gym_id:
        replaced: Replaced = None  # the transaction acts for this gym already: nothing to set or put back
    else:
        replaced = set_transaction_gym(gym_id)
    try:
        with python_gym_scope(gym_id):
            yield
    except BaseException:
        replaced = None  # the transaction is rolling back, and its settings with it
        raise
    finally:
        restore_transaction_gym(replaced)


@contextmanager
def gym_transaction(gym_or_id: Any) -> Iterator[None]:
    """One transaction (or savepoint) that works for this gym, in Python and in the database."""
    with transaction.atomic(), gym_scope(gym_or_id):
        yield


def require_gym_transaction(gym_id: uuid.UUID, using: str = DEFAULT_DB_ALIAS) -> None:
    """Raise ScopeError unless this gym's scope is current inside a transaction that acts for it in the database.

    What a cached read stores must have been computed where row-level
    security shows this gym's rows; anywhere else it would store an empty
    gym. The check costs no query. `using`: the alias the read runs on (the
    replica's transaction, in reps.tenancy.replica's blocks).
    """
    current = current_gym_id()
    in_transaction = _connection(using).in_atomic_block
    if current != gym_id or not in_transaction:
        raise ScopeError(f"This read needs gym {gym_id}'s scope inside a transaction (gym_transaction(gym) or a"
                         f" service); the current scope is {current!r}"
                         + ("." if in_transaction else ", with no transaction."))
    if transaction_gym(using) != gym_id:
        raise ScopeError(f"The transaction does not act for gym {gym_id} in the database (on the platform"
                         " login, or the scope was entered before the transaction): use gym_transaction(gym).")


# A request's bookkeeping writes (a token's last use), held until its transaction is about to commit: the
# API base (reps.tenancy.api.GymAPIView) sets a list here for each request and runs what is in it then.
held_writes: ContextVar[list[Callable[[], Any]] | None] = ContextVar("reps_held_writes", default=None)


def write_before_commit(write: Callable[[], Any]) -> None:
    """Run this bookkeeping write at the end of the request's transaction, just before it commits; at once
    where no request holds writes (a job, a shell, a test calling it directly).

    Authentication notes a token's last use; done where it authenticates, every request's transaction
    would have written before the view reads, and a transaction that wrote reads on the primary, never on
    the read replica (reps.tenancy.replica). Held, it writes the same row in the same transaction, and a
    request that fails writes nothing, as before.
    """
    held = held_writes.get()
    if held is None:
        write()
    else:
        held.append(write)


def gym_of(question: str, value: Any) -> uuid.UUID | None:
    """Which gym a token, login email, user id, voice-platform call id or phone number belongs to, or None.

    Asked before any gym is known, through the database's SECURITY DEFINER
    functions (see the row-level security migration): they answer with a
    gym id and nothing else.
    """
    function = GYM_QUESTIONS[question]
    with _connection().cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [value])
        gym_id: uuid.UUID | None = cursor.fetchone()[0]
        return gym_id


GYM_QUESTIONS = {
    "token": "reps_gym_of_token",
    "login": "reps_gym_of_login",
    "user": "reps_gym_of_user",
    "platform_call": "reps_gym_of_platform_call",
    "phone": "reps_gym_of_phone",
}


def gyms_with_due_calls(due_before: Any, stale_before: Any) -> list[uuid.UUID]:
    """The gyms with AI calls to dispatch (or claims gone stale), asked before any gym is known."""
    return _gym_ids("reps_gyms_with_due_calls", due_before, stale_before)


def gyms_with_stuck_calls(sent_before: Any) -> list[uuid.UUID]:
    """The gyms with AI calls sent before then that the platform never reported ended, asked before any gym is known."""
    return _gym_ids("reps_gyms_with_stuck_calls", sent_before)


def gyms_with_due_outbox(at: Any) -> list[uuid.UUID]:
    """The gyms with outbox messages to deliver by then (neither sent nor failed, nor waiting to be retried)."""
    return _gym_ids("reps_gyms_with_due_outbox", at)


def gyms_with_overdue_appointments(at: Any) -> list[uuid.UUID]:
    """The gyms with appointments still scheduled or confirmed after their end and the gym's no-show grace."""
    return _gym_ids("reps_gyms_with_overdue_appointments", at)


def gyms_with_due_notifications(at: Any) -> list[uuid.UUID]:
    """The gyms with appointment notifications to send by then (pending and due, or claimed and not finished)."""
    return _gym_ids("reps_gyms_with_due_notifications", at)


def gyms_with_pending_imports(stale_before: Any) -> list[uuid.UUID]:
    """The gyms with lead import jobs to hand to the broker: queued and never handed over, or handed over or
    running with no progress since `stale_before` (leads.imports.take_pending_imports)."""
    return _gym_ids("reps_gyms_with_pending_imports", stale_before)


def _gym_ids(function: str, *arguments: Any) -> list[uuid.UUID]:
    with _connection().cursor() as cursor:
        cursor.execute(f"SELECT {function}({', '.join(['%s'] * len(arguments))})", list(arguments))
        return [row[0] for row in cursor.fetchall()]


def oldest_due_call(at: Any) -> Any:
    """When the longest-waiting AI call due by then, in any gym, was due; None when none waits."""
    with _connection().cursor() as cursor:
        cursor.execute("SELECT reps_oldest_due_call(%s)", [at])
        return cursor.fetchone()[0]


class PlatformRouter:
    """The platform admin's requests use the "platform" database login (DATABASE_PLATFORM_URL), when there is one.

    That login may bypass row-level security; the application's own login
    (DATABASE_URL) may not. Everything else uses the default database.
    """

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return self._platform()

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return self._platform()

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one database behind two logins

    @staticmethod
    def _platform() -> str | None:
        return "platform" if on_platform_database() and "platform" in connections.settings else None


# --- What the migrations install ----------------------------------------------

# The gym the current transaction works for, as set_transaction_gym() sets it
# (set_config(..., is_local => true)): NULL when none is set, so a policy keyed
# on it shows nothing. STABLE and plain SQL, so PostgreSQL inlines it and
# `gym_id = reps_current_gym()` is an index condition on (gym_id, ...).
CURRENT_GYM_FUNCTION = """
CREATE OR REPLACE FUNCTION reps_current_gym() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT NULLIF(current_setting('reps.gym_id', true), '')::uuid $$
"""


def gym_isolation_policy(table: str, column: str = "gym_id", allow_insert_without_gym: bool = False) -> tuple[str, str]:
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


def same_gym_foreign_key(table: str, column: str, target_table: str) -> migrations.RunSQL:
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


def application_role() -> str:
    """The role the application works as (settings.DATABASE_APP_ROLE), checked to be a plain identifier."""
    role: str = settings.DATABASE_APP_ROLE
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise ValueError(f"DATABASE_APP_ROLE must be a lower-case SQL identifier, not {role!r}.")
    return role


# The tables the application role may not touch at all (from core's migration 0003): the gym context key,
# the sessions (reached one key at a time through reps.core.sessions), and the platform admin's log, which
# names objects of every gym.
OUT_OF_REACH = ("reps_gym_context_key", "django_session", "django_admin_log")
# The tables the application role may read but not write: the migrations' record, what every gym
# shares (the roles, whose names grant the API's permissions; Django's groups, permissions, content types),
# and the call metrics' counts, which only calls_calllog's triggers keep (calls migration 0005).
READ_ONLY = ("django_migrations", "accounts_role", "auth_group", "auth_group_permissions", "auth_permission",
             "django_content_type", "calls_metricsbucket")


def grant_application_role(using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """Let the application role read and write every table, and nothing more (run after each migrate).

    It owns nothing, so it can neither change the schema nor switch
    row-level security off; READ_ONLY is read-only to it, and OUT_OF_REACH
    is out of its reach. This also stores
    the gym context key (from SECRET_KEY): after changing SECRET_KEY, run
    migrate again, or no transaction acts for any gym (/healthz says so).
    """
    role = application_role()
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            return  # the migration that creates it has not run yet
        cursor.execute(
            f"GRANT USAGE ON SCHEMA public TO {role};"
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};"
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};"
        )
        # (Those of them that exist: migrating an app back to zero drops its tables.)
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        tables = {row[0] for row in cursor.fetchall()}
        if read_only := [table for table in READ_ONLY if table in tables]:
            cursor.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {', '.join(read_only)} FROM {role}")
        if "reps_gym_context_key" in tables:  # core's migration 0003 and later
            cursor.execute(f"REVOKE ALL ON {', '.join(table for table in OUT_OF_REACH if table in tables)} FROM {role}")
            cursor.execute("INSERT INTO reps_gym_context_key (id, key) VALUES (1, %s)"
                           " ON CONFLICT (id) DO UPDATE SET key = EXCLUDED.key", [gym_context_key()])
