#!/usr/bin/env bash
# Start PgBouncer (Debian's package, installed when missing and run as root) in transaction mode in front of
# the PostgreSQL at DATABASE_URL, with deploy/pgbouncer.ini; do nothing when one answers already.
#
#   PGBOUNCER_PORT       where it listens (127.0.0.1), default 6432
#   PGBOUNCER_POOL_SIZE  server connections per database and login, default 20
#   PGBOUNCER_DIR        its configuration, log and pid file, default .data/pgbouncer-<port>
#   PGBOUNCER_USERS      the logins it lets through, default "postgres reps_app"
#   PGBOUNCER_STOP=1     stop the one on PGBOUNCER_PORT instead
#
# Then point DATABASE_URL (and DATABASE_PLATFORM_URL) at 127.0.0.1:$PGBOUNCER_PORT and set DB_POOL=0;
# `scripts/pgbouncer.sh --url URL` prints URL with its host and port made PgBouncer's.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "${1:-}" = --url ]; then
  python3 - "${2:-}" "${PGBOUNCER_PORT:-6432}" <<'PY'
import sys
from urllib.parse import urlsplit
if not sys.argv[1]:
    sys.exit()  # no URL (DATABASE_PLATFORM_URL unset): none through PgBouncer either
url, port = urlsplit(sys.argv[1]), sys.argv[2]
login = url.netloc.rpartition("@")[0]
print(url._replace(netloc=f"{login}@127.0.0.1:{port}" if login else f"127.0.0.1:{port}").geturl())
PY
  exit 0
fi

DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/reps}
port=${PGBOUNCER_PORT:-6432}
dir=${PGBOUNCER_DIR:-$root/.data/pgbouncer-$port}
read -r server_host server_port < <(
  python3 -c 'import sys; from urllib.parse import urlsplit; u = urlsplit(sys.argv[1]); print(u.hostname or "127.0.0.1", u.port or 5432)' "$DATABASE_URL"
)

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

if [ "${PGBOUNCER_STOP:-0}" = 1 ]; then
  [ -s "$dir/pgbouncer.pid" ] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
  for _ in $(seq 1 50); do answers || exit 0; sleep 0.1; done
  echo "PgBouncer on 127.0.0.1:$port did not stop." >&2; exit 1
fi

if answers; then
  echo "PgBouncer (or something) answers on 127.0.0.1:$port already; using it."
  exit 0
fi

if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's pgbouncer..."
    apt-get install -y -q pgbouncer >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q pgbouncer >/dev/null; }
  else
    echo "PgBouncer is not installed: apt-get install pgbouncer" >&2; exit 1
  fi
fi
pgbouncer=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

mkdir -p "$dir"
sed -e "s|@SERVER_HOST@|$server_host|" -e "s|@SERVER_PORT@|$server_port|" \
    -e "s|@LISTEN_HOST@|127.0.0.1|" -e "s|@LISTEN_PORT@|$port|" -e "s|@DIR@|$dir|g" \
    -e "s|@POOL_SIZE@|${PGBOUNCER_POOL_SIZE:-20}|" -e "s|@MAX_CLIENTS@|${PGBOUNCER_MAX_CLIENTS:-1000}|" \
    -e "s|@QUERY_WAIT_TIMEOUT@|${PGBOUNCER_QUERY_WAIT_TIMEOUT:-10}|" -e "s|@AUTH_TYPE@|trust|" \
    deploy/pgbouncer.ini > "$dir/pgbouncer.ini"
: > "$dir/userlist.txt"
for user in ${PGBOUNCER_USERS:-postgres reps_app}; do echo "\"$user\" \"\"" >> "$dir/userlist.txt"; done

# PgBouncer will not run as root.
if [ "$(id -u)" = 0 ]; then
  chown -R postgres: "$dir"
  runuser -u postgres -- "$pgbouncer" -d "$dir/pgbouncer.ini"
else
  "$pgbouncer" -d "$dir/pgbouncer.ini"
fi
for _ in $(seq 1 50); do answers && break; sleep 0.1; done
answers || { echo "PgBouncer did not start; its log: $dir/pgbouncer.log" >&2; tail -5 "$dir/pgbouncer.log" >&2; exit 1; }
echo "PgBouncer (transaction mode, ${PGBOUNCER_POOL_SIZE:-20} server connections per database and login) on 127.0.0.1:$port in front of $server_host:$server_port."
