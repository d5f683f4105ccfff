// The workloads pool_benchmark.cc and pool_mpi_benchmark.cc share: the
// registered tasks they map, their input, and how one run of a workload is
// timed (each iteration's latency, reported as bench_util.h's Latencies).
#ifndef MULTIPROCESSING_BENCHMARKS_POOL_WORKLOAD_H_
#define MULTIPROCESSING_BENCHMARKS_POOL_WORKLOAD_H_

#include <chrono>
#include <cstdint>
#include <numeric>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "multiprocessing/benchmarks/bench_util.h"
#include "multiprocessing/pool/pool.h"

namespace mp::bench {

inline int64_t Square(int64_t x) { return x * x; }
MP_REGISTER_TASK(Square);

inline int64_t SleepOneMs(int64_t x) {
  absl::SleepFor(absl::Milliseconds(1));
  return x;
}
MP_REGISTER_TASK(SleepOneMs);

// 0, 1, ..., n - 1.
inline std::vector<int64_t> Input(int64_t n) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// Times run() once an iteration; a run that returns false fails the
// benchmark.
template <typename Run>
void Measure(benchmark::State& state, Run run) {
  using Clock = Latencies::Clock;
  Latencies latencies;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    if (!run()) return state.SkipWithError("the workload failed");
    const Clock::duration took = Clock::now() - start;
    latencies.Add(took);
    state.SetIterationTime(std::chrono::duration<double>(took).count());
  }
  latencies.Report(state);
}

}  // namespace mp::bench

#endif  // MULTIPROCESSING_BENCHMARKS_POOL_WORKLOAD_H_
