// mp::mpi: a Pool whose workers are MPI ranks (mpi4py's MPIPoolExecutor for
// mp::Pool). The same registered functions and the same Map / Imap /
// ApplyAsync calls run on one machine or across hosts:
//
//   int64_t Square(int64_t x) { return x * x; }
//   MP_REGISTER_TASK(Square);
//
//   int main(int argc, char** argv) {
//     if (absl::Status s = mp::mpi::Init(&argc, &argv); !s.ok()) return 1;
//     // Only rank 0 gets here; the other ranks serve the pool inside Init.
//     absl::StatusOr<mp::Pool> pool = mp::mpi::CreatePool();  // size-1 workers
//     absl::StatusOr<std::vector<int64_t>> v = pool->Map(Square, {1, 2, 3});
//     ...
//     return mp::mpi::Finalize().ok() ? 0 : 1;
//   }
//
//   $ mpirun -np 4 ./app    # rank 0 + 3 workers
//
// How it maps onto MPI:
//   - Init: MPI_Init_thread (then mp::Init, so local start methods work on
//     every rank). Ranks 1..N-1 never return from it: each waits for pools,
//     runs their tasks, and at Finalize leaves with MPI_Finalize and exit(0).
//   - CreatePool: rank 0 sends each worker rank a start message (the
//     initializer, maxtasksperchild); the rank starts a local mp::Pool of one
//     forked process that runs the tasks, and answers. One MPI pool at a time.
//   - Tasks: a chunk's pickled arguments go to a free rank (MPI_Send of the
//     codec's bytes), its pickled outcomes come back; the pool's thread on
//     rank 0 dispatches and collects, as the local Pool's thread does.
//   - Close + Join: once the submitted work is done, every rank closes and
//     joins its local pool and says so; Join returns after all have.
//   - Terminate: every rank terminates its local pool (its running task is
//     killed) and says so; what had not finished fails with kCancelled.
//   - Finalize (rank 0): ranks leave; MPI_Finalize.
//
// A task's process that dies (a crash, SIGKILL, _exit) fails that task with
// kAborted ("pool worker 1 (pid 1234) died with signal 9 while running a task
// of 3 items on MPI rank 2 (host a)"); the rank starts a new one and the pool
// goes on. What MPI does not let us know: a *rank* that dies (the rank's own
// process, or its host) ends the whole job under OpenMPI 4.1, whose mpirun
// kills every rank, rank 0 included (no fault-tolerant MPI, ULFM, here);
// see README "Pool over MPI".
#ifndef MULTIPROCESSING_POOL_MPI_MPI_POOL_H_
#define MULTIPROCESSING_POOL_MPI_MPI_POOL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "multiprocessing/pool/pool.h"

namespace mp::mpi {

// The first statement of main() in an MPI program (instead of mp::Init):
// initialises MPI and mp. On ranks other than 0 it serves pools until rank 0
// calls Finalize(), then ends the process (it never returns there). On rank
// 0 it returns; an error if MPI could not start.
[[nodiscard]] absl::Status Init(int* argc, char*** argv);

// This process's rank and the number of ranks (after Init).
int Rank();
int Size();
// The name of this rank's host (MPI_Get_processor_name, read at Init: a
// task's process, forked from its rank, may call it too).
const std::string& Host();

// A Pool whose workers are ranks 1..processes (default: all but rank 0).
// options.processes must be at most Size() - 1 (kInvalidArgument, as for
// processes < 1); kFailedPrecondition without Init, with no worker rank,
// or while another MPI pool is alive. Tasks must be registered with
// MP_REGISTER_TASK (as under spawn), and so must an initializer;
// options.start_method is ignored (each rank forks its task process).
[[nodiscard]] absl::StatusOr<Pool> CreatePool(Pool::Options options = {});
absl::StatusOr<Pool> CreatePool(int processes);

// Rank 0, at the end: tells the worker ranks to leave, then MPI_Finalize.
// Called at exit if the program does not.
[[nodiscard]] absl::Status Finalize();

}  // namespace mp::mpi

#endif  // MULTIPROCESSING_POOL_MPI_MPI_POOL_H_
