// The Pool over MPI ranks (pool/mpi) next to the local Pool, on the same
// workloads and the same number of workers, in one run. Run under mpirun
// (benchmarks/run.sh does): `mpirun -np 5 pool_mpi_benchmark` gives 4
// worker ranks; rank 0 runs the benchmarks.
//
//   pool4_map_100k    Map of x*x over 100,000 int64, Python's default
//                     chunksize (6,250 with 4 workers) (median, p99 us).
//   pool4_tasks_1ms   1,000 tasks that sleep 1 ms each (Map, default
//                     chunksize: 63) (median, p99 us).
//
// impl "mpi": mp::mpi::CreatePool() on the 4 worker ranks; impl "mp": the
// local mp::Pool with 4 workers (fork), measured in the same process while
// the worker ranks idle (they poll MPI every millisecond at most).
// benchmarks/pool_mpi4py.py measures mpi4py's MPIPoolExecutor on the same
// (impl "mpi4py").
#include <cstdint>
#include <cstdio>
#include <vector>

#include "benchmark/benchmark.h"
#include "multiprocessing/benchmarks/bench_util.h"
#include "multiprocessing/benchmarks/pool_workload.h"
#include "multiprocessing/pool/mpi/mpi_pool.h"
#include "multiprocessing/pool/pool.h"

namespace mp::bench {
namespace {

constexpr int kWorkers = 4;

absl::StatusOr<Pool> MakePool(bool over_mpi) {
  if (over_mpi) return mpi::CreatePool(kWorkers);
  Pool::Options options;
  options.processes = kWorkers;
  options.start_method = StartMethod::kFork;
  return Pool::Create(std::move(options));
}

void Map100k(benchmark::State& state, bool over_mpi) {
  absl::StatusOr<Pool> pool = MakePool(over_mpi);
  if (!pool.ok()) return state.SkipWithError(pool.status().ToString().c_str());
  const std::vector<int64_t> input = Input(100000);
  Measure(state, [&] {
    absl::StatusOr<std::vector<int64_t>> out = pool->Map(Square, input);
    return out.ok() && out->size() == input.size() &&
           (*out)[99999] == 99999LL * 99999;
  });
  pool->Close();
  pool->Join().IgnoreError();
}

void Tasks1ms(benchmark::State& state, bool over_mpi) {
  absl::StatusOr<Pool> pool = MakePool(over_mpi);
  if (!pool.ok()) return state.SkipWithError(pool.status().ToString().c_str());
  const std::vector<int64_t> input = Input(1000);
  Measure(state, [&] {
    absl::StatusOr<std::vector<int64_t>> out = pool->Map(SleepOneMs, input);
    return out.ok() && out->size() == 1000;
  });
  pool->Close();
  pool->Join().IgnoreError();
}

}  // namespace
}  // namespace mp::bench

int main(int argc, char** argv) {
  if (absl::Status s = mp::mpi::Init(&argc, &argv); !s.ok()) {
    std::fprintf(stderr, "pool_mpi_benchmark: %s\n", s.ToString().c_str());
    return 1;
  }
  if (mp::mpi::Size() < mp::bench::kWorkers + 1) {
    std::fprintf(stderr,
                 "pool_mpi_benchmark: run it with mpirun -np %d (or more)\n",
                 mp::bench::kWorkers + 1);
    mp::mpi::Finalize().IgnoreError();
    return 2;
  }
  for (bool over_mpi : {false, true}) {
    const char* impl = over_mpi ? "mpi" : "mp";
    benchmark::RegisterBenchmark(
        (std::string("pool4_map_100k/") + impl).c_str(),
        [over_mpi](benchmark::State& s) { mp::bench::Map100k(s, over_mpi); })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(
        (std::string("pool4_tasks_1ms/") + impl).c_str(),
        [over_mpi](benchmark::State& s) { mp::bench::Tasks1ms(s, over_mpi); })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  const int code = mp::bench::RunAll(argc, argv);
  if (!mp::mpi::Finalize().ok()) return 1;
  return code;
}
