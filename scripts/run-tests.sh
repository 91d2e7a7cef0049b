#!/bin/sh
# run-tests.sh: runs the test suite in the release build (build/) and in the
# AddressSanitizer + UndefinedBehaviorSanitizer build (build-debug/), then the quick part of
# the attack suite (tests/attack) against both, and prints one summary line; the exit status
# is nonzero when anything failed.
set -u
cd "$(dirname "$0")/.." || exit 1
total_pass=0
total_fail=0
total_skip=0
status=0
for b in build build-debug; do
    echo "== test suite: $b"
    log=$(mktemp)
    "$b/run_tests" --ttt "$b/ttt" "$@" 2>&1 | tee "$log"
    rc=$?
    # the runner's last line: "N passed, N failed, N skipped (T s)"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    rm -f "$log"
    if [ -z "$line" ]; then
        echo "$b/run_tests did not finish (crashed?)"
        status=1
        total_fail=$((total_fail + 1))
        continue
    fi
    p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    s=$(echo "$line" | sed -E 's/.* ([0-9]+) skipped.*/\1/')
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    total_skip=$((total_skip + s))
    [ "$f" -ne 0 ] && status=1
done
# the quick part of the attack suite (make attack-quick), both binaries: one more result
echo "== attack suite (quick)"
if python3 tests/attack/attack.py --quick --ttt build/ttt --ttt-san build-debug/ttt --json build/attack-quick.json; then
    total_pass=$((total_pass + 1))
else
    total_fail=$((total_fail + 1))
    status=1
fi
echo "== all builds: $total_pass passed, $total_fail failed, $total_skip skipped"
exit $status
