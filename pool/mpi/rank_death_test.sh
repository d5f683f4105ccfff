#!/usr/bin/env bash
# A rank that dies ends the whole job under OpenMPI (README "Pool over MPI"):
# runs rank_death_test_bin on 3 ranks and checks that mpirun stops every
# rank, rank 0 included, and says which rank died (rather than hanging, or
# rank 0 going on). If rank 0 ever gets an error status instead (exit code
# 3, an MPI that survives the death of a rank), this fails: the README then
# needs updating.
set -euo pipefail
rc=0
out=$(timeout 120 pool/mpi/mpirun_test.sh 3 "$1" 2>&1) || rc=$?
echo "$out"
if grep -q '^SKIPPED:' <<<"$out"; then exit 0; fi
if ((rc == 0 || rc == 3 || rc == 124)); then
  echo "FAIL: expected mpirun to end the job when a rank dies; exit code $rc" >&2
  exit 1
fi
if ! grep -q 'rank 1 .*exited on signal 9' <<<"$out"; then
  echo "FAIL: mpirun did not say that rank 1 died of signal 9" >&2
  exit 1
fi
echo "ok: the job ended (mpirun exit code $rc) when rank 1 died"
