#!/usr/bin/env bash
# Runs every benchmark on this library, on raw POSIX and on CPython in one
# run (and, with OpenMPI, the Pool over MPI ranks beside the local Pool and
# mpi4py's MPIPoolExecutor), writes the JSON lines and prints the ratios.
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

bazel build -c opt -- //benchmarks:all -//benchmarks:pool_mpi_benchmark 2>&1 | tail -n 1 >&2
bin=$(bazel info -c opt bazel-bin 2>/dev/null)/benchmarks

# The Pool over MPI ranks, with OpenMPI (tools/setup.sh installs it):
# mpirun -np 5 is rank 0 and 4 worker ranks; mpi4py's MPIPoolExecutor runs
# on Debian's python3 (python3-mpi4py), whichever python3 is first on PATH.
mpi=false
if command -v mpirun >/dev/null 2>&1; then
  bazel build -c opt //benchmarks:pool_mpi_benchmark 2>&1 | tail -n 1 >&2
  mpi=true
  mpirun=(mpirun -np 5 --oversubscribe --bind-to none)
  [[ $(id -u) -ne 0 ]] || mpirun+=(--allow-run-as-root)
  mpi_python=
  for p in python3 /usr/bin/python3; do
    if "$p" -c 'import mpi4py.futures' 2>/dev/null; then mpi_python=$p; break; fi
  done
else
  echo "run: mpirun not found: the MPI pool benchmark is skipped (tools/setup.sh installs OpenMPI)" >&2
fi

# Each pair: the C++ binary (impl "mp" and "raw") and its CPython script
# ("-": none; spawn_hello's CPython counterpart is process_cpython.py's
# spawn row).
pairs=(
  "connection_benchmark connection_cpython.py"
  "process_benchmark process_cpython.py"
  "spawn_hello -"
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
    [[ $script != - ]] || continue
    echo "run: $script ${quick[*]}" >&2
    timeout 900 python3 "benchmarks/$script" "${quick[@]}"
  done
  if $mpi; then
    echo "run: ${mpirun[*]} pool_mpi_benchmark ${quick[*]}" >&2
    timeout 900 "${mpirun[@]}" "$bin/pool_mpi_benchmark" "${quick[@]}"
    if [[ -n $mpi_python ]]; then
      echo "run: ${mpirun[*]} $mpi_python -m mpi4py.futures pool_mpi4py.py ${quick[*]}" >&2
      timeout 900 "${mpirun[@]}" "$mpi_python" -m mpi4py.futures benchmarks/pool_mpi4py.py "${quick[@]}"
    else
      echo "run: mpi4py not found (python3-mpi4py): its baseline is skipped" >&2
    fi
  fi
} >"$out"

python3 benchmarks/report.py "$out"
echo "results: $out" >&2
