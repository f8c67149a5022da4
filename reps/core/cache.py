"""Cached repository reads: per gym and namespace, invalidated on commit in O(1).

A cached value's key carries a generation number of its gym and namespace
(and a global epoch). Invalidating a namespace increments its generation, so
every older key is never read again and expires by its TTL: the cost does not
grow with the number of cached keys, and no SCAN or KEYS runs on a request.
A reader reads the generation before it queries the database, so a value it
computed before a write committed is stored under the old generation, where
nobody looks: a concurrent reader cannot re-cache stale data.

Values are plain data (JSON: ids, dicts, lists; rows as row_data()), never model instances.

Redis being down never fails a request: the read goes to the database, the
failure is counted and logged at most once a minute, and the cache is left
alone for CACHE_RETRY_SECONDS so that requests do not wait on timeouts. A
process that failed to reach Redis bumps the epoch when Redis answers again,
since invalidations it could not deliver may have been lost.
"""

import datetime
import decimal
import functools
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.db import DEFAULT_DB_ALIAS, models, router, transaction
from django_redis import get_redis_connection

from reps.tenancy.state import gym_id_of

from .metrics import CACHE_ERRORS, CACHE_HITS, CACHE_MISSES

logger = logging.getLogger("reps.cache")

EPOCH_KEY = "repo:epoch"
# The last call the voice platform failed for its account, telephony or service ({"reason", "at"}), for an
# hour: /healthz warns of it. Not a gym's data: the platform account is shared.
VOICE_PLATFORM_FAILURE_KEY = "voice-platform:last-failure"
LOCK_SECONDS = 30  # the longest one recompute may hold its key's lock
WAIT_SECONDS = 2.0  # how long others wait for that recompute before computing themselves
WAIT_STEP = 0.02

# Every cached namespace and its TTL in seconds, as the apps' cached repositories declare them.
NAMESPACES: dict[str, int] = {}


def namespace(name: str, ttl: int) -> str:
    """Declare a cached namespace with its TTL; returns its name."""
    NAMESPACES[name] = ttl
    return name


def everything() -> tuple[str, ...]:
    """Every namespace: what an admin edit or a change of the gym's time zone may have made stale."""
    return tuple(NAMESPACES)


def affected_by(model: type[models.Model]) -> tuple[str, ...]:
    """The namespaces a change to a row of `model` makes stale: its `cache_namespaces`."""
    return tuple(getattr(model, "cache_namespaces", ()))


def affected_by_delete(model: type[models.Model]) -> tuple[str, ...]:
    """What deleting a row of `model` makes stale: its namespaces and those of every row it takes with it or
    changes (SET_NULL), and so on."""
    found: set[str] = set()
    seen: set[type[models.Model]] = set()
    pending = [model]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        found.update(affected_by(current))
        # What goes with it, and what is changed by its going (a lead whose branch is deleted loses it).
        pending += [relation.related_model for relation in current._meta.related_objects  # type: ignore[misc]
                    if getattr(relation, "on_delete", None) is not models.DO_NOTHING]
    return tuple(sorted(found))


class CacheDown(Exception):
    """The cache did not answer; the caller falls back to the database."""


class _Health:
    """Per-process circuit breaker and log throttle for cache failures."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down_until = 0.0
        self.last_logged = 0.0
        self.lost_invalidations = False

    def reset(self) -> None:
        self.down_until, self.lost_invalidations = 0.0, False

    def available(self) -> bool:
        return time.monotonic() >= self.down_until

    def failed(self, operation: str, error: Exception, lost_invalidation: bool = False) -> None:
        CACHE_ERRORS.labels(operation).inc()
        now = time.monotonic()
        with self.lock:
            self.down_until = now + settings.CACHE_RETRY_SECONDS
            self.lost_invalidations = self.lost_invalidations or lost_invalidation
            should_log = now - self.last_logged >= settings.CACHE_ERROR_LOG_SECONDS
            if should_log:
                self.last_logged = now
        if should_log:
            logger.warning("Cache unavailable (%s: %s); reading from the database for %ss.",
                           operation, error, settings.CACHE_RETRY_SECONDS)


health = _Health()


def _guarded(operation: str, function: Callable[..., Any], *args: Any, lost_invalidation: bool = False,
             **kwargs: Any) -> Any:
    if not health.available():
        raise CacheDown()
    try:
        if health.lost_invalidations:
            _recover()
        return function(*args, **kwargs)
    except Exception as error:  # redis.ConnectionError, TimeoutError, ResponseError...
        health.failed(operation, error, lost_invalidation)
        raise CacheDown() from error


def _recover() -> None:
    """Redis answers again after invalidations were lost: drop every cached value at once."""
    _increment([EPOCH_KEY])
    health.lost_invalidations = False
    logger.warning("Cache reachable again; cached values from before the outage were dropped.")


def shared() -> bool:
    """Whether every process sees the same cache (Redis), not each its own memory."""
    return type(caches["default"]).__module__.startswith("django_redis")


# Only ever raises what is kept: two requests of one gym may note their writes in either order.
RAISE_TO = """
local kept = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > kept then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
"""


def _gym_write_key(gym_id: Any) -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:replica:gym-write:{gym_id}"


def note_gym_write(gym_id: Any, position: int, ttl: int) -> None:
    """Where the primary's WAL stood (a byte position) after a write of the gym committed, kept if it is the
    furthest noted (reps.tenancy.replica); CacheDown when the cache does not answer."""
    _guarded("set", lambda: get_redis_connection("default").eval(RAISE_TO, 1, _gym_write_key(gym_id), position, ttl))


def gym_write(gym_id: Any) -> int | None:
    """The furthest position note_gym_write() kept for the gym, or None; CacheDown when the cache does not answer."""
    kept = _guarded("get", lambda: get_redis_connection("default").get(_gym_write_key(gym_id)))
    return int(kept) if kept is not None else None


def _generation_key(namespace: str, gym_id: uuid.UUID) -> str:
    return f"repo:gen:{namespace}:{gym_id}"


def _increment(keys: list[str]) -> None:
    """INCR each key: one pipelined round trip on Redis, Django's cache API on other backends."""
    backend = caches["default"]
    if shared():
        pipeline = get_redis_connection("default").pipeline(transaction=False)
        for key in keys:
            pipeline.incr(backend.make_key(key))
        pipeline.execute()
        return
    for key in keys:
        if not backend.add(key, 1, timeout=None):
            backend.incr(key)


def _digest(args: Any) -> str:
    text = json.dumps(args, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


@functools.cache
def row_format(*models_: type[models.Model]) -> str:
    """A name for the columns row_data() stores of these models: a cached read keys its rows with it, so that
    after a migration (or a deploy that changes what is stored) old entries are never read back."""
    return _digest([[field.attname for field in model._meta.concrete_fields] for model in models_])


def row_data(instance: models.Model) -> dict[str, Any]:
    """A row's columns as plain JSON data (moments to the microsecond, ids as text), for row_from()."""
    data = {}
    for field in instance._meta.concrete_fields:
        value = getattr(instance, field.attname)
        if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
            value = value.isoformat()
        elif isinstance(value, (uuid.UUID, decimal.Decimal)):
            value = str(value)
        data[field.attname] = value
    return data


def row_from(model: type[models.Model], data: dict[str, Any]) -> models.Model:
    """The instance row_data() described, as if read from the database (no query)."""
    names, readers = _readers(model)
    return model.from_db(DEFAULT_DB_ALIAS, names, [read(data[name]) for name, read in zip(names, readers, strict=True)])


@functools.cache
def _readers(model: type[models.Model]) -> tuple[list[str], list[Callable[[Any], Any]]]:
    """Each column's name, and what turns its row_data() value back: what the field's to_python() does,
    the common cases without its checks (a moment's ISO text, an id's text)."""
    names: list[str] = []
    readers: list[Callable[[Any], Any]] = []
    for field in model._meta.concrete_fields:
        target = field.target_field if field.is_relation else field  # type: ignore[attr-defined]
        if isinstance(target, models.DateTimeField):
            readers.append(_read_moment)
        elif isinstance(target, models.UUIDField):
            readers.append(_read_id)
        elif isinstance(target, (models.CharField, models.TextField, models.BooleanField, models.IntegerField)):
            readers.append(_read_plain(field.to_python))
        else:
            readers.append(field.to_python)
        names.append(field.attname)
    return names, readers


def _read_moment(value: Any) -> Any:
    return datetime.datetime.fromisoformat(value) if isinstance(value, str) else value


def _read_id(value: Any) -> Any:
    return uuid.UUID(value) if isinstance(value, str) else value


def _read_plain(to_python: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def read(value: Any) -> Any:
        return value if value is None or type(value) in (str, bool, int) else to_python(value)
    return read


def cached_read(namespace: str, gym_id: uuid.UUID, args: Any, ttl: int, compute: Callable[[], Any],
                encode: Callable[[Any], Any] = lambda value: value,
                decode: Callable[[Any], Any] = lambda value: value) -> Any:
    """compute() through the cache: one recompute at a time per key, the database when the cache is down.

    `args` (JSON-able) tell apart the reads of one namespace; `encode` turns
    the result into plain data to store and `decode` turns it back.
    """
    try:
        stamps = _guarded("read", cache.get_many, [EPOCH_KEY, _generation_key(namespace, gym_id)])
        key = f"repo:{namespace}:{gym_id}:{stamps.get(EPOCH_KEY, 0)}.{stamps.get(_generation_key(namespace, gym_id), 0)}:{_digest(args)}"
        stored = _guarded("read", cache.get, key)
    except CacheDown:
        return compute()
    if stored is not None:
        CACHE_HITS.labels(namespace).inc()
        return decode(stored)
    CACHE_MISSES.labels(namespace).inc()
    return _recompute_once(key, ttl, compute, encode, decode)


def _recompute_once(key: str, ttl: int, compute: Callable[[], Any], encode: Callable[[Any], Any],
                    decode: Callable[[Any], Any]) -> Any:
    lock = f"{key}:lock"
    try:
        leader = _guarded("lock", cache.add, lock, 1, timeout=LOCK_SECONDS)
    except CacheDown:
        return compute()
    if not leader:
        # Someone else is computing this value: wait for it a little.
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            time.sleep(WAIT_STEP)
            try:
                stored = _guarded("read", cache.get, key)
            except CacheDown:
                return compute()
            if stored is not None:
                return decode(stored)
        return compute()
    try:
        result = compute()
        try:
            _guarded("write", cache.set, key, encode(result), timeout=ttl)
        except CacheDown:
            pass
        return result
    finally:
        try:
            _guarded("unlock", cache.delete, lock)
        except CacheDown:
            pass


def invalidate(gym_id: uuid.UUID, namespaces: Iterable[str]) -> None:
    """Make every cached value of these namespaces of this gym unreadable, now."""
    keys = [_generation_key(namespace, gym_id) for namespace in sorted(set(namespaces))]
    if not keys:
        return
    try:
        _guarded("invalidate", _increment, keys, lost_invalidation=True)
    except CacheDown:
        health.lost_invalidations = True  # also when the breaker was already open


def invalidate_everywhere_after() -> None:
    """Make every cached value of every gym unreadable when the current transaction commits (a new epoch):
    for a write whose gyms are not known (a platform job's update of many gyms' rows)."""
    transaction.on_commit(_invalidate_everywhere, using=router.db_for_write(None))  # type: ignore[arg-type]


def _invalidate_everywhere() -> None:
    try:
        _guarded("invalidate", _increment, [EPOCH_KEY], lost_invalidation=True)
    except CacheDown:
        health.lost_invalidations = True


def invalidate_after(gym: Any, namespaces: Iterable[str]) -> None:
    """Invalidate these namespaces of the gym when the current transaction commits; a rollback invalidates nothing.

    The platform admin writes through its own database login
    (reps.tenancy.database.PlatformRouter): its transaction is that connection's.
    """
    gym_id, namespaces = gym_id_of(gym), tuple(namespaces)
    if namespaces:
        transaction.on_commit(lambda: invalidate(gym_id, namespaces), using=router.db_for_write(None))  # type: ignore[arg-type]
