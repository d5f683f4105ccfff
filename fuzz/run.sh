#!/usr/bin/env bash
# Fuzzes the targets in fuzz/ with libFuzzer (clang, ASan + UBSan).
#
#   fuzz/run.sh [--seconds N] [--merge] [frame|pickle|auth ...]
#
# Each target runs N seconds (default 600) from its seed corpus, all of them
# at once, in a scratch directory; crashes, hangs (>10 s) and allocations
# over 64 MB are findings, written there as crash-*/timeout-*/oom-* files.
# --merge adds the inputs that found new coverage to fuzz/corpus/<name>/.
# The build uses its own Bazel output base, so the clang toolchain does not
# evict the everyday gcc build.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=600
merge=0
names=()
while (($#)); do
  case $1 in
    --seconds) seconds=$2; shift ;;
    --merge) merge=1 ;;
    frame|pickle|auth) names+=("$1") ;;
    *) echo "usage: $0 [--seconds N] [--merge] [frame|pickle|auth ...]" >&2; exit 2 ;;
  esac
  shift
done
((${#names[@]})) || names=(frame pickle auth)

# One output base per checkout, as Bazel's own are.
base=${MP_FUZZ_OUTPUT_BASE:-$HOME/.cache/mp-fuzz-bazel/$(pwd | md5sum | cut -c1-12)}
targets=()
for name in "${names[@]}"; do targets+=("//fuzz:${name}_fuzzer"); done
bazel --output_base="$base" build --config=fuzz "${targets[@]}" 2>&1 |
  tail -n 1 >&2
bin=$(bazel --output_base="$base" info --config=fuzz bazel-bin 2>/dev/null)/fuzz

work=$(mktemp -d /tmp/mp-fuzz.XXXXXX)
echo "scratch: $work" >&2
for name in "${names[@]}"; do
  mkdir -p "$work/$name/corpus" "$work/$name/findings"
  cp "fuzz/corpus/$name/"* "$work/$name/corpus/"
  (cd "$work/$name/findings" &&
    "$bin/${name}_fuzzer" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -malloc_limit_mb=64 -max_len=65536 \
      -print_final_stats=1 "$work/$name/corpus" >"$work/$name/log" 2>&1 ||
    echo "$name: FINDING (see $work/$name/log)" >&2) &
done
wait

status=0
for name in "${names[@]}"; do
  execs=$(grep -m1 'stat::number_of_executed_units' "$work/$name/log" | awk '{print $2}')
  findings=$(ls "$work/$name/findings" | grep -cE '^(crash|timeout|oom|leak|slow-unit)-' || true)
  echo "{\"fuzzer\": \"$name\", \"seconds\": $seconds, \"executions\": ${execs:-0}, \"corpus\": $(ls "$work/$name/corpus" | wc -l), \"findings\": $findings}"
  ((findings == 0)) || status=1
  if ((merge)); then
    "$bin/${name}_fuzzer" -merge=1 -max_len=65536 "fuzz/corpus/$name" \
      "$work/$name/corpus" >/dev/null 2>&1
  fi
done
exit $status
