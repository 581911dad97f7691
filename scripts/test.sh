#!/usr/bin/env bash
# Installs what is missing, builds PingWatcher twice (plain, and with AddressSanitizer +
# UndefinedBehaviorSanitizer) and runs the whole test suite in both. Needs root: the
# end-to-end tests create network namespaces. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh build || exit 1
bash scripts/setup.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false || exit 1

# Leaks are errors; a sanitizer report fails the test that triggered it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Fuzzing build: clang + libFuzzer + ASan; only the fuzz targets are built and run, each for
# a bounded time (FUZZ_SECONDS) on a scratch copy of its seed corpus.
fuzz_seconds=${FUZZ_SECONDS:-30}
CC=clang bash scripts/setup.sh build-fuzz -Dfuzz=true -Dfuzz_seconds="$fuzz_seconds" \
    -Db_sanitize=address -Db_lundef=false --no-build || exit 1
meson compile -C build-fuzz fuzzers >/dev/null || exit 1

status=0
meson test -C build --print-errorlogs --num-processes 2 || status=1
meson test -C build-asan --print-errorlogs --num-processes 2 || status=1
meson test -C build-fuzz --no-rebuild --print-errorlogs --suite fuzz-run || status=1

python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
    build-fuzz/meson-logs/testlog.json <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        continue
    for line in lines:
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
