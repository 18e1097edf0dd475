#!/bin/sh
# A throwaway S3-compatible server for the tests: @20minutes/s3rver (a fork of s3rver that checks
# Signature V4; docs/scale-out.md says why), installed by the Makefile into build/s3rver from
# tests/s3/package-lock.json. It keeps its objects in a temporary directory, listens on a free
# port on 127.0.0.1, and has one bucket, "recd-test". Its only credentials are S3RVER / S3RVER.
#
#   scripts/s3-test-server.sh start DIR   starts a server in DIR (which must not exist); prints
#                                         its endpoint (http://127.0.0.1:PORT)
#   scripts/s3-test-server.sh stop DIR    stops it and removes DIR
#   scripts/s3-test-server.sh pause DIR   stops it, keeping DIR (its objects); `resume DIR`
#                                         starts it again on the same port
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
S3RVER=${S3RVER:-$here/build/s3rver/s3rver.js}
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|pause|resume DIR" >&2; exit 2; }

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

s3_start() {
    port=$(cat "$dir/port")
    # setsid: the server is its own process group, so that stop ends it and nothing else.
    setsid node "$S3RVER" -d "$dir/objects" -a 127.0.0.1 -p "$port" --silent --no-vhost-buckets \
        --configure-bucket recd-test >"$dir/server.log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
    # Ready when the port answers; a server that died is reported with its log.
    i=0
    while ! /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; do
        i=$((i + 1))
        if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null || [ $i -gt 300 ]; then
            cat "$dir/server.log" >&2
            exit 1
        fi
        sleep 0.1
    done
}

s3_stop() {
    if [ -f "$dir/pid" ]; then
        pid=$(cat "$dir/pid")
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
        rm -f "$dir/pid"
    fi
}

case "$cmd" in
start)
    [ -f "$S3RVER" ] || { echo "$0: $S3RVER is missing (make build/s3rver)" >&2; exit 1; }
    [ ! -e "$dir" ] || { echo "$0: $dir exists" >&2; exit 2; }
    mkdir -p "$dir/objects"
    free_port >"$dir/port"
    s3_start
    echo "http://127.0.0.1:$(cat "$dir/port")"
    ;;
stop)
    s3_stop
    rm -rf "$dir"
    ;;
pause)
    s3_stop
    ;;
resume)
    s3_start
    ;;
*)
    echo "usage: $0 start|stop|pause|resume DIR" >&2
    exit 2
    ;;
esac
