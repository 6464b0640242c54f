#!/bin/sh
# As the official image's entrypoint, in short: on the first start, make a
# cluster owned by POSTGRES_USER with POSTGRES_PASSWORD, create POSTGRES_DB
# with a temporary server on the unix socket only, then run the server for
# every address with password authentication.
set -eu
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
    user="${POSTGRES_USER:-postgres}"
    database="${POSTGRES_DB:-$user}"
    printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/password
    initdb --username="$user" --pwfile=/tmp/password --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm /tmp/password
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    pg_ctl --wait --options="-c listen_addresses=''" start >/dev/null
    if [ "$database" != postgres ]; then
        psql --quiet --set=ON_ERROR_STOP=1 --username="$user" --dbname=postgres --command="CREATE DATABASE \"$database\""
    fi
    pg_ctl --wait --mode=fast stop >/dev/null
    echo "PostgreSQL init process complete; ready for start up."
fi
if [ "$1" = postgres ]; then
    shift
    exec postgres -c listen_addresses='*' "$@"
fi
exec "$@"
