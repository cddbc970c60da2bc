#!/usr/bin/env bash
# A throw-away PostgreSQL server on localhost, for tests and the README.
#
#   scripts/postgres.sh start   # installs PostgreSQL with apt-get if missing, starts a
#                               # server in a temp dir on a free port, prints its URL
#   scripts/postgres.sh url     # prints the URL of the running server
#   scripts/postgres.sh stop    # stops it and removes its data
#
# The URL is postgresql+psycopg://postgres@127.0.0.1:PORT/postgres (trust auth,
# no password: never use this server for anything that matters).
# State lives in $REFINE_PG_STATE (default /tmp/refine-postgres).
set -euo pipefail

STATE="${REFINE_PG_STATE:-/tmp/refine-postgres}"

bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
    if [ -z "$d" ] && command -v pg_ctl >/dev/null 2>&1; then d=$(dirname "$(command -v pg_ctl)"); fi
    echo "$d"
}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        su postgres -s /bin/sh -c "$*"
    else
        sh -c "$*"
    fi
}

install() {
    if [ -n "$(bindir)" ]; then return; fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "error: PostgreSQL is not installed; install it (apt-get install postgresql) and retry" >&2
        exit 2
    fi
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    if [ -f "$STATE/port" ] && [ -f "$STATE/data/postmaster.pid" ]; then url; return; fi
    install
    local bin port
    bin=$(bindir)
    rm -rf "$STATE"; mkdir -p "$STATE/data" "$STATE/run"
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        chown -R postgres "$STATE"
    fi
    port=$(free_port)
    as_postgres "'$bin/initdb' -D '$STATE/data' -U postgres --auth=trust -E UTF8 >'$STATE/initdb.log' 2>&1"
    as_postgres "'$bin/pg_ctl' -D '$STATE/data' -l '$STATE/server.log' -w -t 30 -o \"-p $port -h 127.0.0.1 -k '$STATE/run' -c max_connections=200 -c fsync=off\" start >/dev/null"
    echo "$port" > "$STATE/port"
    url
}

url() {
    if [ ! -f "$STATE/port" ]; then echo "error: no server running (scripts/postgres.sh start)" >&2; exit 2; fi
    echo "postgresql+psycopg://postgres@127.0.0.1:$(cat "$STATE/port")/postgres"
}

stop() {
    local bin
    bin=$(bindir)
    if [ -n "$bin" ] && [ -f "$STATE/data/postmaster.pid" ]; then
        as_postgres "'$bin/pg_ctl' -D '$STATE/data' -m fast -w stop >/dev/null" || true
    fi
    rm -rf "$STATE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) url ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
