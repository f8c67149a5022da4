#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer at DATABASE_URL and REDIS_URL; with DATABASE_REPLICA_URL, a local
# streaming replica too (scripts/replica.sh), and with PGBOUNCER_PORT, PgBouncer (scripts/pgbouncer.sh).
#
# A server that already answers is used as it is. When none answers on this
# machine: PostgreSQL runs as a project-local cluster under .data/postgres
# (if the server binaries are installed) and Redis as a local redis-server
# whose files live under .data/. Then the database is created if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/reps}
REDIS_URL=${REDIS_URL-redis://127.0.0.1:6379/0}

# host port user dbname of DATABASE_URL
read -r pg_host pg_port pg_user pg_db < <(
  python3 - "$DATABASE_URL" <<'PY'
import sys
from urllib.parse import urlsplit, unquote
u = urlsplit(sys.argv[1])
print(u.hostname or "127.0.0.1", u.port or 5432, unquote(u.username or "postgres"), unquote(u.path.lstrip("/")) or "postgres")
PY
)
export PGPASSWORD=${PGPASSWORD:-$(python3 -c 'import sys; from urllib.parse import urlsplit, unquote; print(unquote(urlsplit(sys.argv[1]).password or ""))' "$DATABASE_URL")}

is_local() { case "$1" in 127.0.0.1|localhost|::1) return 0;; *) return 1;; esac; }

pg_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

pg_answers() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$pg_host" -p "$pg_port" -t 2
  else
    (exec 3<>"/dev/tcp/$pg_host/$pg_port") 2>/dev/null
  fi
}

# Run a command as the postgres user when we are root (initdb refuses root).
as_pg_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_local_postgres() {
  local bindir data="$root/.data/postgres"
  bindir=$(pg_bindir) || {
    echo "PostgreSQL does not answer at $pg_host:$pg_port and no server binaries are installed." >&2
    echo "Install the postgresql package or set DATABASE_URL to a running server." >&2
    exit 1
  }
  mkdir -p "$root/.data"
  if [ ! -s "$data/PG_VERSION" ]; then
    echo "Creating a project-local PostgreSQL cluster in .data/postgres ..."
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres: "$data"
    chmod 700 "$data"
    as_pg_owner "$bindir/initdb" -D "$data" -U "$pg_user" --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  [ "$(id -u)" = 0 ] && chown postgres: "$root/.data" 2>/dev/null || true
  echo "Starting the project-local PostgreSQL on $pg_host:$pg_port ..."
  as_pg_owner "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
    -o "-p $pg_port -c listen_addresses=$pg_host -k $data" start >/dev/null
}

if ! pg_answers; then
  if is_local "$pg_host"; then
    start_local_postgres
  else
    echo "PostgreSQL does not answer at $pg_host:$pg_port (DATABASE_URL)." >&2
    exit 1
  fi
fi
for _ in $(seq 1 30); do pg_answers && break; sleep 1; done

if ! psql -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$pg_db'" | grep -q 1; then
  echo "Creating database $pg_db ..."
  createdb -h "$pg_host" -p "$pg_port" -U "$pg_user" "$pg_db"
fi

# --- Redis ----------------------------------------------------------------
if [ -n "$REDIS_URL" ]; then
  read -r redis_host redis_port < <(
    python3 -c 'import sys; from urllib.parse import urlsplit; u = urlsplit(sys.argv[1]); print(u.hostname or "127.0.0.1", u.port or 6379)' "$REDIS_URL"
  )
  redis_answers() {
    if command -v redis-cli >/dev/null 2>&1; then
      [ "$(redis-cli -h "$redis_host" -p "$redis_port" ping 2>/dev/null)" = PONG ]
    else
      (exec 3<>"/dev/tcp/$redis_host/$redis_port") 2>/dev/null
    fi
  }
  if ! redis_answers; then
    if is_local "$redis_host" && command -v redis-server >/dev/null 2>&1; then
      echo "Starting a local Redis on $redis_host:$redis_port (files in .data/redis) ..."
      mkdir -p "$root/.data/redis"
      redis-server --daemonize yes --bind "$redis_host" --port "$redis_port" --save "" --appendonly no \
        --dir "$root/.data/redis" --logfile "$root/.data/redis/redis.log" --pidfile "$root/.data/redis/redis.pid"
      for _ in $(seq 1 20); do redis_answers && break; sleep 0.5; done
    fi
    redis_answers || { echo "Redis does not answer at $redis_host:$redis_port (REDIS_URL)." >&2; exit 1; }
  fi
fi
echo "PostgreSQL at $pg_host:$pg_port/$pg_db and Redis at ${REDIS_URL:-(none: local-memory cache)} are ready."

# --- A read replica, when asked (DATABASE_REPLICA_URL) -------------------------
if [ -n "${DATABASE_REPLICA_URL:-}" ]; then
  scripts/replica.sh
fi

# --- PgBouncer, when asked (PGBOUNCER_PORT) ----------------------------------
if [ -n "${PGBOUNCER_PORT:-}" ]; then
  scripts/pgbouncer.sh
fi
