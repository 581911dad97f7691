#!/usr/bin/env bash
# Runs a libFuzzer binary for a bounded time on a scratch copy of its seed corpus.
#   run-fuzzer.sh FUZZER CORPUS_DIR SECONDS
set -euo pipefail
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r "$2"/. "$scratch"/
exec "$1" -max_total_time="$3" -print_final_stats=1 "$scratch"
