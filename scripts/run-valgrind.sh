#!/bin/sh
# `make test-valgrind`: runs end-to-end tests against the release build (build/recd, -O2 -g, no
# sanitizers) under valgrind memcheck. Every recd process the tests start (the servers and every
# CLI command) goes through a wrapper that execs valgrind with full leak checking; servers are
# stopped with SIGTERM by the fixtures, so their leak checks run at a clean exit.
#
#   scripts/run-valgrind.sh [PYTEST ARGS...]
#
# Without arguments the selection is $VALGRIND_TESTS, else a representative subset that takes
# about ten minutes on two cores. Logs go to $VALGRIND_LOGDIR (default build/valgrind/), one per
# process (vg.PID.log). Afterwards every log is scanned: "ERROR SUMMARY: N errors" and
# "definitely lost"; a summary is printed. Exit status: non-zero if any process had a memcheck
# error or a definite leak, if a log has no summary (the process was killed before valgrind
# finished), or if pytest failed.
set -u
cd "$(dirname "$0")/.." || exit 2
repo=$(pwd)

command -v valgrind >/dev/null 2>&1 || { echo "run-valgrind: valgrind not installed (apt-get install -y valgrind)"; exit 2; }
make -s build/recd || exit 2

logdir=${VALGRIND_LOGDIR:-$repo/build/valgrind}
mkdir -p "$logdir"
rm -f "$logdir"/vg.*.log
tmp=$(mktemp -d /tmp/recd-vg.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

# A snapshot of the binary, so that a rebuild of build/recd during the run does not race with it.
cp build/recd "$tmp/recd.bin"
cat > "$tmp/recd" <<EOF
#!/bin/sh
exec valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \\
    --track-fds=no --num-callers=30 --log-file=$logdir/vg.%p.log $tmp/recd.bin "\$@"
EOF
chmod +x "$tmp/recd"

if [ $# -eq 0 ]; then
    if [ -n "${VALGRIND_TESTS:-}" ]; then
        eval "set -- $VALGRIND_TESTS"   # shell quoting applies: VALGRIND_TESTS='tests/e2e/x.py -k "not y"'
    else
        set -- tests/e2e/test_recordings_api.py tests/e2e/test_twilio_client.py \
            tests/e2e/test_errors_auth.py tests/e2e/test_import_cli.py -k "not crash"
    fi
fi

echo "run-valgrind: pytest $(printf '%s ' "$@")(logs in $logdir)"
start=$(date +%s)
RECD_AUTH_FAIL_LIMIT=0 RECD_BIN="$tmp/recd" /usr/bin/python3 -m pytest -q -p no:cacheprovider "$@"
pytest_rc=$?
secs=$(( $(date +%s) - start ))

# ---------------------------------------------------------------- scan the logs
procs=0; with_errors=0; errors=0; leaky=0; incomplete=0; lost_bytes=0
bad=""
for f in "$logdir"/vg.*.log; do
    [ -e "$f" ] || continue
    procs=$((procs + 1))
    n=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$f" | tail -n 1 | tr -d ,)
    if [ -z "$n" ]; then
        # no summary: the process was killed (SIGKILL) before valgrind could finish
        incomplete=$((incomplete + 1)); bad="$bad $f"
        n=0
    fi
    if [ "$n" -gt 0 ]; then
        with_errors=$((with_errors + 1)); errors=$((errors + n)); bad="$bad $f"
    fi
    d=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$f" | tr -d , | awk '{s+=$1} END {print s+0}')
    if [ "$d" -gt 0 ]; then
        leaky=$((leaky + 1)); lost_bytes=$((lost_bytes + d))
        case "$bad" in *"$f"*) ;; *) bad="$bad $f" ;; esac
    fi
done

echo
echo "valgrind summary ($(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null), nproc $(nproc), ${secs}s)"
echo "  recd processes checked   $procs"
echo "  processes with errors    $with_errors ($errors errors in all)"
echo "  definite leaks           $leaky processes, $lost_bytes bytes"
echo "  logs without a summary   $incomplete"
echo "  pytest exit status       $pytest_rc"
for f in $bad; do
    echo
    echo "==== $f"
    head -n 80 "$f"
done
status=0
[ $with_errors -eq 0 ] && [ $leaky -eq 0 ] && [ $incomplete -eq 0 ] || status=1
[ $pytest_rc -eq 0 ] || status=1
[ $status -eq 0 ] && echo "run-valgrind: PASS" || echo "run-valgrind: FAIL"
exit $status
