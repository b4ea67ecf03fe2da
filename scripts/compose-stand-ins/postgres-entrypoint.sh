#!/bin/bash
# The stand-in postgres:15's entrypoint: on first start, initdb into $PGDATA with
# POSTGRES_USER / POSTGRES_PASSWORD and create POSTGRES_DB, on a temporary server that listens on
# the Unix socket only (so a TCP health check is not green before the database exists); then run
# the server as the postgres user, listening on every interface with password authentication.
set -euo pipefail

if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
  # A fresh named volume belongs to root; the server refuses a data directory it does not own.
  install --directory --owner postgres --group postgres --mode 0700 "$PGDATA"
  chown -R postgres:postgres "$PGDATA"
  install --directory --owner postgres --group postgres --mode 3777 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

initialise() {
  : "${POSTGRES_PASSWORD:?is required: the server accepts only password logins over TCP}"
  local user=${POSTGRES_USER:-postgres}
  local database=${POSTGRES_DB:-$user}
  echo "stand-in postgres: initialising $PGDATA for user $user, database $database"
  initdb --username="$user" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 \
    --pgdata="$PGDATA" >/dev/null
  printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

  pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait --silent start
  if [ "$database" != postgres ]; then
    psql --quiet --no-psqlrc --set=ON_ERROR_STOP=1 --username="$user" --dbname=postgres \
      --set=database="$database" <<<'CREATE DATABASE :"database";'
  fi
  pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
  echo "stand-in postgres: initialised"
}

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  initialise
fi
exec "$@"
