#!/bin/sh
# Runs each libFuzzer target for $1 seconds on its corpus; findings go to fuzz/crashes/NAME/.
# Prints, per target, the executions and what was found, for docs/reliability.md.
secs=$1
shift
status=0
for n in "$@"; do
    mkdir -p "fuzz/corpus/$n" "fuzz/crashes/$n" build/fuzz/work/"$n"
    log=build/fuzz/"$n".log
    build/fuzz/fuzz_"$n" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="fuzz/crashes/$n/" build/fuzz/work/"$n" "fuzz/corpus/$n" > "$log" 2>&1 || status=1
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    [ -n "$execs" ] || execs=$(grep -o '#[0-9]*' "$log" | tail -n 1 | tr -d '#')
    found=$(ls "fuzz/crashes/$n" | wc -l)
    echo "fuzz $n: ${secs}s, ${execs:-?} executions, $found saved crash inputs"
done
exit $status
