#!/usr/bin/env bash
# Builds and runs the consumer workspace against this checkout, proving that
# another Bazel repository can depend on @multiprocessing's targets.
set -euo pipefail
cd "$(dirname "$0")"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! out=$(bazel run //:hello 2>"$log"); then
  cat "$log" >&2
  echo "consumer: bazel run //:hello failed" >&2
  exit 1
fi
echo "$out"
expected=$'hello, consumer\nchild exit code 0'
if [[ "$out" != "$expected" ]]; then
  echo "consumer: unexpected output (expected: $expected)" >&2
  exit 1
fi
echo "consumer: ok"
