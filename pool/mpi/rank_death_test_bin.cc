// What MPI does not let us know (README "Pool over MPI"): a task that kills
// its *rank* (not only its own process). Under OpenMPI 4.1 mpirun then ends
// the whole job, rank 0 included, so the pool cannot turn it into an error
// status; rank_death_test.sh checks that the job ends (no hang) and fails.
#include <csignal>
#include <cstdint>
#include <cstdio>

#include "absl/status/status.h"
#include "multiprocessing/pool/mpi/mpi_pool.h"
#include "multiprocessing/pool/pool.h"
#include "multiprocessing/process/process.h"

int64_t KillMyRank(int64_t) {
  // This task's process is the rank's child; its parent is the rank.
  std::optional<mp::ParentProcessInfo> rank = mp::ParentProcess();
  if (rank) ::kill(static_cast<pid_t>(rank->pid), SIGKILL);
  return 0;
}
MP_REGISTER_TASK(KillMyRank);

int main(int argc, char** argv) {
  if (!mp::mpi::Init(&argc, &argv).ok()) return 2;
  absl::StatusOr<mp::Pool> pool = mp::mpi::CreatePool(1);
  if (!pool.ok()) return 2;
  absl::Status s = pool->Apply(KillMyRank, int64_t{0}).status();
  // Not reached under OpenMPI 4.1: mpirun has killed this rank by now.
  std::printf("rank 0 saw: %s\n", s.ToString().c_str());
  pool->Terminate();
  pool->Join().IgnoreError();
  mp::mpi::Finalize().IgnoreError();
  return 3;
}
