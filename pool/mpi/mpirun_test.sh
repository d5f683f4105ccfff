#!/usr/bin/env bash
# Runs an MPI test binary on N ranks of this machine, inside Bazel's test
# sandbox:  mpirun_test.sh N BINARY [ARGS...]
#
# Skips (passes, saying so) only where OpenMPI's mpirun is not installed;
# tools/setup.sh installs it. An mpirun that is there but cannot start fails
# the test, with its own message.
set -euo pipefail
np=$1
binary=$2
shift 2

if ! command -v mpirun >/dev/null 2>&1; then
  echo "SKIPPED: mpirun not found: install OpenMPI (Debian: apt-get install openmpi-bin libopenmpi-dev, or tools/setup.sh) to run this MPI test" >&2
  exit 0
fi

# OpenMPI in the sandbox:
# - its session directory (with PMIx's Unix sockets) under a short path of
#   this run's own: the test's TMPDIR is too long for a socket's 108 bytes,
#   and the shared-memory files of the ranks go there too, not to /dev/shm,
#   where two tests running at once collide (in the sandbox's PID namespace
#   both mpirun have the same pid, so the same MPI job id and file names);
# - shared memory between the ranks of this host, and the loopback only
#   (the sandbox may have no other interface);
# - no single-copy (CMA needs ptrace rights containers often deny);
# - no binding to cores: 4 ranks share the CPUs with the build;
# - as root (CI containers), with --allow-run-as-root.
session=$(mktemp -d /tmp/mpi.XXXXXX)
trap 'rm -rf "$session"' EXIT
export OMPI_MCA_orte_tmpdir_base=$session
export OMPI_MCA_btl=self,vader
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_btl_vader_backing_directory=$session
export OMPI_MCA_oob_tcp_if_include=lo
export OMPI_MCA_btl_tcp_if_include=lo
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_hwloc_base_binding_policy=none
export OMPI_MCA_mpi_yield_when_idle=1
# --config=asan: no leak check in the ranks. OpenMPI leaves allocations of
# its plugins behind, and unloads the plugins (dlclose) at MPI_Finalize,
# before LeakSanitizer looks: their stacks are "<unknown module>", which no
# suppression can name. AddressSanitizer itself stays on; the local Pool's
# tests check our code for leaks.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

root=()
[[ $(id -u) -ne 0 ]] || root=(--allow-run-as-root)
rc=0
mpirun -np "$np" --oversubscribe "${root[@]}" "$binary" "$@" || rc=$?
exit $rc
