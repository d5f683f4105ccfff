#!/usr/bin/env bash
# Runs every benchmark on this library, on raw POSIX and on CPython in one
# run, writes the JSON lines and prints the ratios.
#
#   benchmarks/run.sh [--quick] [--out FILE]
#
# --quick finishes in well under a minute (CI smoke use; the numbers are
# rough). The JSON goes to benchmarks/results/latest.jsonl unless --out says
# otherwise; benchmarks/chart.py turns it into a PNG.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
out=benchmarks/results/latest.jsonl
while (($#)); do
  case $1 in
    --quick) quick=(--quick) ;;
    --out) out=$2; shift ;;
    *) echo "usage: $0 [--quick] [--out FILE]" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$(dirname "$out")"

bazel build -c opt //benchmarks:all 2>&1 | tail -n 1 >&2
bin=$(bazel info -c opt bazel-bin 2>/dev/null)/benchmarks

# Each pair: the C++ binary (impl "mp" and "raw") and its CPython script.
pairs=(
  "connection_benchmark connection_cpython.py"
  "process_benchmark process_cpython.py"
  "queue_benchmark queue_cpython.py"
  "pool_benchmark pool_cpython.py"
  "sync_benchmark sync_cpython.py"
)

{
  echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cpus, $(python3 --version)"
  for pair in "${pairs[@]}"; do
    read -r binary script <<<"$pair"
    echo "run: $binary ${quick[*]}" >&2
    timeout 900 "$bin/$binary" "${quick[@]}"
    echo "run: $script ${quick[*]}" >&2
    timeout 900 python3 "benchmarks/$script" "${quick[@]}"
  done
} >"$out"

python3 benchmarks/report.py "$out"
echo "results: $out" >&2
