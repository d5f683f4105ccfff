// Shared pieces of the benchmark binaries: Google Benchmark runs the
// workloads, and JsonLinesReporter prints every result as one JSON line
//   {"name": ..., "value": ..., "unit": ..., "impl": ...}
// which benchmarks/run.sh collects next to CPython's lines.
//
// Conventions a benchmark follows so the reporter can name its results:
// - its name is "<workload>/<impl>", e.g. "pingpong_64B/raw";
// - each counter is named "<metric>|<unit>", e.g. "median|us" or
//   "rate|msgs/s"; the JSON name is "<workload>_<metric>" (or just
//   "<workload>" when the metric is empty: "|MB/s").
#ifndef MULTIPROCESSING_BENCHMARKS_BENCH_UTIL_H_
#define MULTIPROCESSING_BENCHMARKS_BENCH_UTIL_H_

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

namespace mp::bench {

class JsonLinesReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      // With repetitions, only the median over them is reported.
      if (run.repetitions > 1 && (run.run_type != Run::RT_Aggregate ||
                                  run.aggregate_name != "median")) {
        continue;
      }
      if (run.error_occurred) {
        std::fprintf(stderr, "%s: %s\n", run.benchmark_name().c_str(),
                     run.error_message.c_str());
        continue;
      }
      const std::string full = run.run_name.function_name;
      const std::size_t slash = full.rfind('/');
      const std::string workload = full.substr(0, slash);
      const std::string impl =
          slash == std::string::npos ? "mp" : full.substr(slash + 1);
      for (const auto& [key, counter] : run.counters) {
        const std::size_t bar = key.find('|');
        if (bar == std::string::npos) continue;
        const std::string metric = key.substr(0, bar);
        const std::string unit = key.substr(bar + 1);
        const std::string name =
            metric.empty() ? workload : workload + "_" + metric;
        std::printf(
            "{\"name\": \"%s\", \"value\": %.6g, \"unit\": \"%s\", "
            "\"impl\": \"%s\"}\n",
            name.c_str(), static_cast<double>(counter.value), unit.c_str(),
            impl.c_str());
      }
      std::fflush(stdout);
    }
  }
};

// Runs every registered benchmark with the JSON-lines reporter. Flags are
// Google Benchmark's (--benchmark_filter, --benchmark_min_time, ...), plus
// --quick: a short run for smoke tests (benchmarks/run.sh --quick).
//
// By default each benchmark runs 5 times, the repetitions of all benchmarks
// shuffled together, and the median is reported: on a shared machine one
// run can land on a bad moment (or a bad pairing of CPUs for the two
// processes), and interleaving keeps mp and raw exposed to the same ones.
inline int RunAll(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  static char kQuickMinTime[] = "--benchmark_min_time=0.05";
  static char kRepetitions[] = "--benchmark_repetitions=5";
  static char kInterleave[] = "--benchmark_enable_random_interleaving=true";
  bool quick = false;
  for (char*& arg : args) {
    if (std::string(arg) == "--quick") {
      arg = kQuickMinTime;
      quick = true;
    }
  }
  if (!quick) {
    args.insert(args.begin() + 1, {kRepetitions, kInterleave});
  }
  argc = static_cast<int>(args.size());
  argv = args.data();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  JsonLinesReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}

// Pins the calling process to one CPU when the machine has more than one:
// the parent of a two-process benchmark to CPU 0, its child to CPU 1, for
// every implementation alike (connection_cpython.py does the same). Without
// it, whether the scheduler happens to put both on one CPU changes a round
// trip by up to 2x from one run to the next.
//
// The test is the machine's CPUs, not this process's affinity: a child
// inherits its parent's single CPU, and testing that (as this did until
// 2026-12-02) left every child on CPU 0 with its parent.
inline void PinToCpu(int cpu) {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  sched_setaffinity(0, sizeof one, &one);
}

// Per-iteration latencies, for a median and a 99th percentile (Google
// Benchmark reports means only).
class Latencies {
 public:
  using Clock = std::chrono::steady_clock;

  void Add(Clock::duration d) { samples_.push_back(d); }

  // Sets "median|us" and "p99|us" on `state`.
  void Report(benchmark::State& state) {
    if (samples_.empty()) return;
    std::sort(samples_.begin(), samples_.end());
    state.counters["median|us"] = Micros(samples_[samples_.size() / 2]);
    state.counters["p99|us"] = Micros(samples_[samples_.size() * 99 / 100]);
  }

 private:
  static double Micros(Clock::duration d) {
    return std::chrono::duration<double, std::micro>(d).count();
  }
  std::vector<Clock::duration> samples_;
};

}  // namespace mp::bench

#endif  // MULTIPROCESSING_BENCHMARKS_BENCH_UTIL_H_
