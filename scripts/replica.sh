#!/usr/bin/env bash
# Start a local streaming replica (a hot standby) of the PostgreSQL at DATABASE_URL's host and port, unless
# one answers already; then say where it answers. Point DATABASE_REPLICA_URL there (reps.tenancy.replica).
#
#   REPLICA_PORT         where it listens (127.0.0.1), default DATABASE_REPLICA_URL's port, else 5433
#   REPLICA_DIR          its data directory, default .data/replica
#   REPLICA_SOURCE_USER  the primary's login it replicates with (a superuser or a REPLICATION role), default postgres
#   REPLICA_STOP=1       stop it instead;  REPLICA_REMOVE=1  stop it, delete its data and undo what it added
#
# The first run copies the primary with pg_basebackup -R -X stream, with no replication slot kept (a slot
# would keep the primary's WAL for a stopped replica without bound). A primary whose pg_hba.conf refuses local
# replication connections gets the line "host replication <REPLICA_SOURCE_USER> 127.0.0.1/32 trust" and a
# reload, said as done; REPLICA_REMOVE=1 takes that line out again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/reps}
replica_port=$(python3 -c 'import sys; from urllib.parse import urlsplit; print(urlsplit(sys.argv[1]).port or "")' \
  "${DATABASE_REPLICA_URL:-}")
port=${REPLICA_PORT:-${replica_port:-5433}}
dir=${REPLICA_DIR:-$root/.data/replica}
source_user=${REPLICA_SOURCE_USER:-postgres}
slot=reps_replica_$port

read -r pg_host pg_port replica_url < <(
  python3 - "$DATABASE_URL" "$port" <<'PY'
import sys
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1])
host, port = u.hostname or "127.0.0.1", u.port or 5432
netloc = u.netloc.rsplit("@", 1)[0] + "@" if "@" in u.netloc else ""
print(host, port, u._replace(netloc=f"{netloc}127.0.0.1:{sys.argv[2]}").geturl())
PY
)

pg_bindir() {
  local bindir
  for bindir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$bindir/pg_ctl" ] && { echo "$bindir"; return 0; }
  done
  command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return 0; }
  return 1
}
bin=$(pg_bindir) || { echo "The PostgreSQL server binaries (pg_ctl, pg_basebackup) are not installed." >&2; exit 1; }

# The server binaries refuse to run as root: run them as the postgres user then.
as_pg_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
on_primary() { psql -X -q -h "$pg_host" -p "$pg_port" -U "$source_user" -d postgres -tAc "$1"; }
on_replica() { psql -X -q -h 127.0.0.1 -p "$port" -U "$source_user" -d postgres -tAc "$1" 2>/dev/null; }
replica_answers() { "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2; }
stop_replica() {
  if [ -s "$dir/postmaster.pid" ]; then as_pg_owner "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true; fi
}

HBA_MARK="# Added by Reps' scripts\/replica.sh"
if [ "${REPLICA_STOP:-0}" = 1 ] || [ "${REPLICA_REMOVE:-0}" = 1 ]; then
  stop_replica
  echo "The replica on 127.0.0.1:$port is stopped."
  if [ "${REPLICA_REMOVE:-0}" = 1 ]; then
    rm -rf "$dir"
    # (A slot of this script's earlier versions, which kept the primary's WAL for a stopped replica.)
    on_primary "SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots WHERE slot_name = '$slot'" >/dev/null
    echo "Removed $dir."
    # The line this script let replication in with, if it added one and may change the file.
    hba=$(on_primary "SHOW hba_file")
    if [ -w "$hba" ] && grep -q "^$HBA_MARK" "$hba"; then
      sed -i "/^$HBA_MARK/{N;d}" "$hba"
      on_primary "SELECT pg_reload_conf()" >/dev/null
      echo "Took the replication line it had added out of $hba again, and reloaded the primary's configuration."
    fi
  fi
  exit 0
fi

announce() {
  echo "The read replica of $pg_host:$pg_port answers at 127.0.0.1:$port (data in ${dir#"$root"/})."
  # The application reads it as reps_app, as it logs in to the primary (DATABASE_URL here may be the platform's).
  echo "Use it with DATABASE_REPLICA_URL=${DATABASE_REPLICA_URL:-${replica_url/\/\/postgres@/\/\/reps_app@}}"
}

if replica_answers; then
  if [ "$(on_replica 'SELECT pg_is_in_recovery()')" = t ]; then
    announce
    exit 0
  fi
  echo "Something answers on 127.0.0.1:$port, but it is no replica (set REPLICA_PORT)." >&2
  exit 1
fi

"$bin/pg_isready" -q -h "$pg_host" -p "$pg_port" -t 5 || {
  echo "The primary does not answer at $pg_host:$pg_port (DATABASE_URL); start it first (scripts/services.sh)." >&2
  exit 1
}

is_local() { case "$1" in 127.0.0.1|localhost|::1) return 0;; *) return 1;; esac; }

# The primary's pg_hba.conf must let a local replication connection in ("all" does not match replication).
allow_replication() {
  local hba
  hba=$(on_primary "SHOW hba_file")
  if ! is_local "$pg_host" || [ ! -w "$hba" ]; then
    echo "The primary refuses replication connections: add this line to its pg_hba.conf ($hba) and reload it:" >&2
    echo "  host replication $source_user 127.0.0.1/32 trust" >&2
    exit 1
  fi
  # For the one login, from this machine only; REPLICA_REMOVE=1 takes it out again.
  printf '\n# Added by Reps'"'"' scripts/replica.sh: a local streaming replica (pg_basebackup, walreceiver).\nhost replication %s 127.0.0.1/32 trust\n' "$source_user" >> "$hba"
  on_primary "SELECT pg_reload_conf()" >/dev/null
  echo "Added 'host replication $source_user 127.0.0.1/32 trust' to $hba and reloaded the primary's configuration."
  sleep 1
}

base_backup() {
  local dest=$1
  # A slot of this script's earlier versions, left by a replica whose data was deleted: it would keep WAL.
  on_primary "SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots
              WHERE slot_name = '$slot' AND NOT active" >/dev/null
  # No replication slot of its own: a slot keeps every bit of WAL a stopped replica has not had, without
  # bound, on the developer's disk. Without one, a replica stopped for long may find the WAL it needs
  # recycled: it then lags (the application reads on the primary) until REPLICA_REMOVE=1 and a new copy.
  as_pg_owner "$bin/pg_basebackup" -h "$pg_host" -p "$pg_port" -U "$source_user" -D "$dest" -R -X stream \
    -c fast 2>&1
}

if [ ! -s "$dir/PG_VERSION" ] || [ ! -e "$dir/standby.signal" ]; then
  [ "$(on_primary "SHOW wal_level")" != minimal ] || {
    echo "The primary's wal_level is minimal: set wal_level = replica and restart it." >&2; exit 1; }
  echo "Copying the primary at $pg_host:$pg_port into ${dir#"$root"/} (pg_basebackup) ..."
  rm -rf "$dir"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  chmod 700 "$dir"
  if ! output=$(base_backup "$dir"); then
    if grep -q "no pg_hba.conf entry for replication" <<<"$output"; then
      allow_replication
      rm -rf "${dir:?}"/* && output=$(base_backup "$dir") || { echo "$output" >&2; exit 1; }
    else
      echo "$output" >&2
      exit 1
    fi
  fi
  # A Debian cluster keeps its configuration in /etc, outside the data directory: the replica gets its own.
  # The primary's access rules apply to it too.
  if [ ! -e "$dir/pg_hba.conf" ]; then
    cp "$(on_primary "SHOW hba_file")" "$dir/pg_hba.conf"
  fi
  [ -e "$dir/pg_ident.conf" ] || : > "$dir/pg_ident.conf"
  {
    echo
    echo "# scripts/replica.sh: a hot standby needs at least the primary's values of these."
    for setting in max_connections max_worker_processes max_wal_senders max_prepared_transactions \
                   max_locks_per_transaction; do
      echo "$setting = $(on_primary "SHOW $setting")"
    done
    echo "hot_standby = on"
  } >> "$dir/postgresql.conf"
  if [ "$(id -u)" = 0 ]; then chown -R postgres: "$dir"; fi
fi

echo "Starting the replica on 127.0.0.1:$port ..."
as_pg_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
  -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c hba_file=$dir/pg_hba.conf -c ident_file=$dir/pg_ident.conf" \
  start >/dev/null || { echo "The replica did not start; its log:" >&2; tail -20 "$dir/server.log" >&2; exit 1; }
for _ in $(seq 1 30); do replica_answers && break; sleep 0.5; done
announce
