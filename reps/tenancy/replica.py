"""The heavy reads on the read replica, under the same row-level security, when that is safe.

DATABASE_REPLICA_URL names a streaming replica of the database (DATABASES["replica"], logged in to as
DATABASE_URL is: the application role). A function wearing `@on_replica` (or a `with replica_reads():`
block) has its ORM reads sent to the replica by `ReplicaRouter`, through a ContextVar, in a read-only
transaction of its own that acts for the same gym as the request's (set_transaction_gym(gym, "replica")).
The policies, the gym proofs' key and the rows are replicated like everything else, so the replica shows a
gym exactly what the primary would, and nothing of any other gym.

It does so only when all of these hold; otherwise the reads stay on the primary, as without a replica:

- a replica is configured, and did not fail in the last REPLICA_RETRY_SECONDS (no request waits on a
  replica that is down; a failure mid-way in an @on_replica function runs it again on the primary, which
  is safe because it only reads);
- the request's transaction on the primary has written nothing (`pg_current_xact_id_if_assigned()` is
  NULL): after a write, the request reads its own writes on the primary. A token's last use, which
  authentication notes, waits for the commit for that (database.write_before_commit);
- the replica lags at most REPLICA_MAX_LAG_SECONDS (asked at most once a second per process);
- for a value the cache will keep (`fresh=True`: reps.core.repositories.CachedRepository), the replica has
  replayed all the primary had written when the computation began. The cache reads its generation
  before computing; a replica that missed the commit behind the last invalidation would have a stale value
  kept for the namespace's whole TTL, not only for as long as the replica lags.

- for any other read, the replica has replayed the gym's own last write: every service (so every write of
  the API, the workspace, a job or a webhook) notes, once its transaction commits, where the primary's WAL
  then stood (note_gym_write(), in Redis for GYM_WRITE_MEMORY_SECONDS, only ever raised), so that a lead just
  created is in the next page of leads. Other gyms' writes, which row-level security hides anyway, do not
  hold the gym's reads back. When the cache cannot say (it is down, or it is each process's own memory), the
  read waits for everything the primary had written, as a fresh one does.

Which reads: the API's lists (GymReadOnlyViewSet.list, lead search included) and the repositories'
aggregates (lead stats and dashboard, call metrics, appointment stats; the workspace's dashboard reads the
same).

Each decision is counted in reps_db_reads_total{database, reason} (reps.core.metrics.DB_READS), and the lag
last measured is reps_db_replica_lag_seconds.
"""

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections, transaction

from reps.core import cache
from reps.core.metrics import DB_READS, DB_REPLICA_LAG

from .database import connection_failed, set_transaction_gym, transaction_gym
from .state import on_platform_database

logger = logging.getLogger("reps.replica")

REPLICA = "replica"
LAG_CHECK_SECONDS = 1.0  # how long one process trusts the lag it last measured
QUERY_CANCELED = "57014"  # a statement timeout: the same read would run as long on the primary

# Seconds the replica is behind: 0 when it has replayed all the primary had flushed a moment ago (%s, a byte
# position), else how long ago the last transaction it replayed committed. So a replica cut off from its primary
# (it has replayed all it received, and receives nothing more) lags from the moment the primary writes on
# without it. NULL (nothing replayed yet, or not a replica at all) counts as lagging without bound. Then whether
# it has replayed what this read needs (%s).
LAG_SQL = ("SELECT CASE WHEN pg_last_wal_replay_lsn() - '0/0' >= %s THEN 0"
           " ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END,"
           " pg_last_wal_replay_lsn() - '0/0' >= %s")


@dataclass(frozen=True)
class _Reads:
    alias: str  # where the block's reads go
    fresh: bool  # the replica was seen to have all the primary had written


_reads: ContextVar[_Reads | None] = ContextVar("reps_replica_reads", default=None)


class _Health:
    """Per process: when the replica last failed, and its last measured lag."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.down_until = 0.0
        self.lag: float | None = None
        self.lag_measured_at = float("-inf")

    def available(self) -> bool:
        return time.monotonic() >= self.down_until

    def failed(self, error: Exception) -> None:
        with self.lock:
            self.down_until = time.monotonic() + settings.REPLICA_RETRY_SECONDS
            self.lag = None
        # Once per REPLICA_RETRY_SECONDS per process at most: the replica is not asked again meanwhile.
        logger.warning("The read replica failed (%s); reading from the primary for %ss.",
                       str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__,
                       settings.REPLICA_RETRY_SECONDS)

    def known_lag(self) -> float | None:
        """The lag measured in the last LAG_CHECK_SECONDS, or None when it is time to ask again."""
        if time.monotonic() - self.lag_measured_at < LAG_CHECK_SECONDS:
            return float("inf") if self.lag is None else self.lag
        return None

    def measured(self, lag: float | None) -> None:
        with self.lock:
            self.lag, self.lag_measured_at = lag, time.monotonic()
        DB_REPLICA_LAG.set(float("inf") if lag is None else lag)


health = _Health()


def configured() -> bool:
    return REPLICA in settings.DATABASES


def reads_alias() -> str:
    """The alias this gym's reads go to now: the replica inside a block that chose it, else the primary.
    For raw SQL beside the ORM's reads (connections[reads_alias()]), and the repositories' scope check."""
    reads = _reads.get()
    return reads.alias if reads is not None else DEFAULT_DB_ALIAS


@contextmanager
def replica_reads(fresh: bool = False) -> Iterator[str]:
    """The block's ORM reads go to the replica when they may (see the module's docstring); yields the alias.

    For reads: anything the block writes goes to the primary, and so do the block's reads after that
    (ReplicaRouter). A block inside another keeps the other's choice; only a `fresh` one inside a block
    that did not check freshness checks, and may read on the primary instead.
    """
    outer = _reads.get()
    if outer is not None and not (fresh and outer.alias == REPLICA and not outer.fresh):
        yield outer.alias
        return
    gym_id = transaction_gym() if configured() and not on_platform_database() else None
    if gym_id is None:  # no replica, the platform's login, or no gym's transaction to act for: as before
        yield reads_alias()
        return
    with ExitStack() as stack:
        alias, reason = _choose(gym_id, fresh, stack, replica_open=outer is not None)
        DB_READS.labels("replica" if alias == REPLICA else "primary", reason).inc()
        token = _reads.set(_Reads(alias, alias == REPLICA and (fresh or bool(outer and outer.fresh))))
        try:
            yield alias
        finally:
            _reads.reset(token)


@contextmanager
def primary_reads() -> Iterator[None]:
    """The block's reads go to the primary, inside a replica_reads() block too."""
    token = _reads.set(_Reads(DEFAULT_DB_ALIAS, True))
    try:
        yield
    finally:
        _reads.reset(token)


# How long a gym's last write is remembered: far longer than the replica may lag (REPLICA_MAX_LAG_SECONDS),
# past which its reads go to the primary anyway.
GYM_WRITE_MEMORY_SECONDS = 300


def note_gym_write(gym_id: Any) -> None:
    """Just after a write of this gym committed (every service's, reps.tenancy.services): where the primary's
    WAL stands now, past its commit, so that the gym's next reads use the replica only once it has replayed that
    far (read your own writes). A statement and a cache write, only with a replica; when the cache is down, the
    reads wait for everything.
    """
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_insert_lsn() - '0/0'")
            position = int(cursor.fetchone()[0])
    except (OperationalError, InterfaceError) as error:  # the write is committed: never answer it as failed
        logger.warning("Could not note gym %s's write for the read replica (%s).", gym_id, error)
        return
    with suppress(cache.CacheDown):
        cache.note_gym_write(gym_id, position, GYM_WRITE_MEMORY_SECONDS)


def _gym_write(gym_id: Any, primary_lsn: int) -> int | None:
    """How far the replica must have replayed for this gym's own writes: its last noted write, None when it
    wrote nothing lately, or everything the primary had written when the cache cannot say."""
    if not cache.shared():
        return primary_lsn  # each process's own memory: another process's write would not be in it
    try:
        return cache.gym_write(gym_id)
    except cache.CacheDown:
        return primary_lsn


def _choose(gym_id: Any, fresh: bool, stack: ExitStack, replica_open: bool) -> tuple[str, str]:
    """(alias, reason): where the block reads, and why. Opens the replica's transaction on `stack` when it is
    chosen (`replica_open`: an outer block's is open already)."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:  # one statement in the request's own transaction
        cursor.execute("SELECT pg_current_xact_id_if_assigned() IS NOT NULL, pg_current_wal_flush_lsn() - '0/0'")
        written, primary_lsn = cursor.fetchone()
    if written:
        return DEFAULT_DB_ALIAS, "written"
    primary_lsn = int(primary_lsn)
    # What the replica must have replayed: everything, for a value the cache keeps; else the gym's own writes.
    needed = primary_lsn if fresh else _gym_write(gym_id, primary_lsn)
    if not replica_open:
        if not health.available():
            return DEFAULT_DB_ALIAS, "down"
        lag = health.known_lag()
        if lag is not None and lag > settings.REPLICA_MAX_LAG_SECONDS:
            return DEFAULT_DB_ALIAS, "lagging"
    atomic = None
    try:
        if not replica_open:
            opening = transaction.atomic(using=REPLICA)
            opening.__enter__()  # connects (a pooled connection), or raises
            atomic = opening
            set_transaction_gym(gym_id, using=REPLICA)
        caught_up = True
        if needed is not None or health.known_lag() is None:
            with connections[REPLICA].cursor() as cursor:
                cursor.execute(LAG_SQL, [primary_lsn, needed or 0])
                lag, replayed = cursor.fetchone()
            health.measured(None if lag is None else float(lag))
            caught_up = bool(replayed)
    except (OperationalError, InterfaceError) as error:
        if atomic is not None:
            atomic.__exit__(type(error), error, error.__traceback__)  # rolls back, or drops the connection
        health.failed(error)
        return DEFAULT_DB_ALIAS, "failed"
    reason = ""
    if (health.known_lag() or 0.0) > settings.REPLICA_MAX_LAG_SECONDS:
        reason = "lagging"
    elif not caught_up:
        reason = "behind"
    if reason:
        if atomic is not None:
            atomic.__exit__(None, None, None)  # read nothing: commit the empty transaction
        return DEFAULT_DB_ALIAS, reason
    if atomic is not None:
        stack.push(atomic.__exit__)
    return REPLICA, "ok"


Function = TypeVar("Function", bound=Callable[..., Any])


def on_replica(function: Function, *, fresh: bool = False) -> Function:
    """The function's reads in replica_reads(fresh); if the replica fails part-way, it runs again on the primary.

    For functions that only read (a repository's aggregate, a list page): running one twice is harmless.
    A statement timeout is no failure of the replica: it is raised, as it would be on the primary.
    """

    @functools.wraps(function)
    def reading(*args: Any, **kwargs: Any) -> Any:
        if _reads.get() is not None and not fresh:
            with replica_reads():  # inside another block: the outermost one retries
                return function(*args, **kwargs)
        alias = DEFAULT_DB_ALIAS
        try:
            with replica_reads(fresh) as alias:
                return function(*args, **kwargs)
        except DatabaseError as error:
            if (alias != REPLICA or not connection_failed(error)
                    or getattr(error.__cause__, "sqlstate", None) == QUERY_CANCELED):
                raise
            health.failed(error)
            DB_READS.labels("primary", "failed").inc()
        with primary_reads():
            return function(*args, **kwargs)

    return reading  # type: ignore[return-value]


class ReplicaRouter:
    """Reads inside a block that chose the replica go there; writes never do (DATABASE_ROUTERS, after the
    platform's router, when a replica is configured).

    A row read on the replica and read further outside such a block (a related row, a prefetch, a refresh)
    or saved is read or written on the primary, in the request's transaction: outside a block the
    replica's connection acts for no gym, and is read-only.
    """

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        reads = _reads.get()
        if reads is not None:
            return reads.alias
        return DEFAULT_DB_ALIAS if _from_replica(hints) else None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        reads = _reads.get()
        if reads is not None and reads.alias == REPLICA:
            _reads.set(_Reads(DEFAULT_DB_ALIAS, True))  # the rest of the block reads what it writes: the primary
        return DEFAULT_DB_ALIAS if _from_replica(hints) else None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one database, and its copy

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db == REPLICA else None  # the replica follows the primary's migrations


def _from_replica(hints: dict[str, Any]) -> bool:
    instance = hints.get("instance")
    return instance is not None and getattr(instance._state, "db", None) == REPLICA
