#!/bin/sh
# A throwaway PostgreSQL cluster for the tests: Debian's server binaries, a data folder in a
# temporary directory, listening on a free port on 127.0.0.1 and on a unix socket in that
# directory. Nothing of the machine's own PostgreSQL (if any) is used or touched.
#
#   scripts/pg-test-cluster.sh start DIR   creates and starts a cluster in DIR (which must not
#                                          exist); prints its URL (postgres://…/postgres)
#   scripts/pg-test-cluster.sh stop DIR    stops it (fast shutdown) and removes DIR
#   scripts/pg-test-cluster.sh pause DIR   stops it, keeping DIR; `resume DIR` starts it again
#
# initdb refuses to run as root, so as root the cluster belongs to the `postgres` user that
# Debian's package creates, and every server command runs as that user.
set -eu

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|pause|resume DIR" >&2; exit 2; }

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_start() {
    # -w waits until the server accepts connections; its log is kept for a failed start.
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $(cat "$dir/port") -k $dir -c listen_addresses=127.0.0.1" start >/dev/null || {
        cat "$dir/server.log" >&2
        exit 1
    }
}

case "$cmd" in
start)
    [ ! -e "$dir" ] || { echo "$0: $dir exists" >&2; exit 2; }
    mkdir -p "$dir"
    chmod 0755 "$dir"
    [ "$(id -u)" != 0 ] || chown postgres "$dir"
    # Trust on loopback and the socket: the cluster lives only as long as the test run, in a
    # directory only this machine sees. fsync off: a throwaway cluster need not survive a power
    # cut, and the tests of recd's own durability do not depend on it.
    as_owner "$PGBIN/initdb" -D "$dir/data" -U recd -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    {
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
        echo "max_connections = 300"
        echo "shared_buffers = 32MB"
    } | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
    free_port | as_owner tee "$dir/port" >/dev/null
    pg_start
    echo "postgres://recd@127.0.0.1:$(cat "$dir/port")/postgres"
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
pause)
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
resume)
    pg_start
    ;;
*)
    echo "usage: $0 start|stop|pause|resume DIR" >&2
    exit 2
    ;;
esac
