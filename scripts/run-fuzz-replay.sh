#!/bin/sh
# Replays every fuzz target's seed corpus and saved crashes (fuzz/corpus/NAME, fuzz/crashes/NAME)
# through the sanitized replay binaries; exits non-zero if any input crashes, or if a target's
# seed corpus is missing or empty (its crashes folder may be either: none saved yet).
failed=0
for n in "$@"; do
    build/test/fuzz/replay_"$n" "fuzz/corpus/$n" --optional "fuzz/crashes/$n" || failed=$((failed + 1))
done
echo "fuzz replay: $(($# - failed)) targets clean, $failed failed"
[ "$failed" -eq 0 ]
