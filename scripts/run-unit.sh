#!/bin/sh
# Runs each cmocka unit-test binary given as an argument; exits non-zero if any failed.
failed=0
for t in "$@"; do
    "$t" || failed=$((failed + 1))
done
echo "unit test binaries: $(($# - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
