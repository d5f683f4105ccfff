#!/usr/bin/env bash
# Runs each example and checks its whole output. Under --config=mingw the
# examples are Windows programs: $WINE (set by bazel/mingw/wine_test.sh) runs
# them, and their text-mode CRLF line ends are read as LF.
set -euo pipefail
out_file=${TEST_TMPDIR:-/tmp}/example.out
run() {
  local rc=0
  if [[ -n ${WINE:-} ]]; then
    timeout 30 "$WINE" "examples/$1.exe" >"$out_file" 2>&1 || rc=$?
  else
    timeout 30 "examples/$1" >"$out_file" 2>&1 || rc=$?
  fi
  tr -d '\r' <"$out_file"
  return $rc
}
fail=0
check() {
  local name=$1 expected=$2 actual
  actual=$(run "$name") || { echo "FAIL: $name exited $?"; echo "$actual"; fail=1; return; }
  if [[ "$actual" != "$expected" ]]; then
    echo "FAIL: $name printed:"; echo "$actual"; echo "expected:"; echo "$expected"; fail=1
  else
    echo "ok: $name"
  fi
}

# The consumer's lines interleave with the producer's, so compare sorted.
sorted() { sort <<<"$1"; }
out=$(run pipe_producer_consumer) || { echo "FAIL: pipe_producer_consumer exited $?"; fail=1; }
expected="produced 1
produced 2
produced 3
produced 4
consumed 1
consumed 2
consumed 3
consumed 4
Consumer done
Main process done (consumer exit code 0)"
if [[ "$(sorted "$out")" != "$(sorted "$expected")" ]] || [[ "$(tail -n1 <<<"$out")" != "Main process done (consumer exit code 0)" ]] \
   || [[ "$(grep consumed <<<"$out")" != "$(grep consumed <<<"$expected")" ]]; then
  echo "FAIL: pipe_producer_consumer printed:"; echo "$out"; fail=1
else
  echo "ok: pipe_producer_consumer"
fi

check pipe_adder_server "7
helloworld
Server done"

check pool_map "[1, 4, 9]
[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
INVALID_ARGUMENT: division by zero"
exit $fail
