// Process start + join, next to what it costs without the library, in one
// run: a child that exits at once, started and waited for.
//
//   start_join_fork   mp: Process(target).Start() + Join()
//                     raw: fork() + _exit(0) in the child + waitpid()
//   start_join_spawn  mp: the same with the spawn start method (this binary
//                     runs again, mp::Init reads the bootstrap message and
//                     runs the registered target, which only returns 0)
//                     raw: posix_spawn("/bin/true") + waitpid(), the
//                     fastest plain code for "start a program, wait for it"
//                     raw_self: posix_spawn() of this same binary (which
//                     exits at once in main when given --exit-now) +
//                     waitpid(): what loading this binary and its shared
//                     libraries costs before any of the library runs
//   start_join_forkserver  mp: the same with the forkserver start method (the
//                     server, started by the first iteration, forks the
//                     child; its exit code comes back through the server)
//                     Linux only; the target: within 2x of start_join_fork/mp
// Times are medians and 99th percentiles in microseconds.
// benchmarks/process_cpython.py measures CPython's Process on the same.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "multiprocessing/benchmarks/bench_util.h"
#include "multiprocessing/benchmarks/spawn_util.h"
#include "multiprocessing/process/process.h"

namespace mp::bench {
namespace {

using Clock = Latencies::Clock;

template <typename StartAndJoin>
void Measure(benchmark::State& state, StartAndJoin start_and_join) {
  Latencies latencies;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    if (!start_and_join()) return state.SkipWithError("start or join failed");
    const Clock::duration took = Clock::now() - start;
    latencies.Add(took);
    state.SetIterationTime(std::chrono::duration<double>(took).count());
  }
  latencies.Report(state);
}

void ForkMp(benchmark::State& state) {
  Measure(state, [] {
    Process p([] { return 0; });
    return p.Start().ok() && p.Join().ok() && p.exitcode() == 0;
  });
}

int ReturnZero() { return 0; }
MP_REGISTER_TARGET(ReturnZero);

void SpawnMp(benchmark::State& state) {
  Measure(state, [] {
    Process p(ReturnZero);
    return p.set_start_method(StartMethod::kSpawn).ok() && p.Start().ok() &&
           p.Join().ok() && p.exitcode() == 0;
  });
}

void ForkserverMp(benchmark::State& state) {
  Measure(state, [] {
    Process p(ReturnZero);
    return p.set_start_method(StartMethod::kForkserver).ok() &&
           p.Start().ok() && p.Join().ok() && p.exitcode() == 0;
  });
}

void ForkRaw(benchmark::State& state) {
  Measure(state, [] {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    int status;
    return pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
  });
}

// posix_spawn(argv[0]) + waitpid(); true when it exited with 0.
void SpawnRawTrue(benchmark::State& state) {
  static char bin_true[] = "/bin/true";
  char* argv[] = {bin_true, nullptr};
  Measure(state, [&] { return SpawnAndWait(argv); });
}

void SpawnRawSelf(benchmark::State& state) {
  static char exit_now[] = "--exit-now";
  static char self[] = "/proc/self/exe";
  char* argv[] = {self, exit_now, nullptr};
  Measure(state, [&] { return SpawnAndWait(argv); });
}

}  // namespace
}  // namespace mp::bench

int main(int argc, char** argv) {
  // raw_self: exits at once, before the library does anything.
  if (argc > 1 && std::strcmp(argv[1], "--exit-now") == 0) return 0;
  mp::Init(argc, argv);
  benchmark::RegisterBenchmark("start_join_fork/raw", mp::bench::ForkRaw)
      ->UseManualTime();
  benchmark::RegisterBenchmark("start_join_fork/mp", mp::bench::ForkMp)
      ->UseManualTime();
  benchmark::RegisterBenchmark("start_join_spawn/raw", mp::bench::SpawnRawTrue)
      ->UseManualTime();
  benchmark::RegisterBenchmark("start_join_spawn/raw_self",
                               mp::bench::SpawnRawSelf)
      ->UseManualTime();
  benchmark::RegisterBenchmark("start_join_spawn/mp", mp::bench::SpawnMp)
      ->UseManualTime();
  const std::vector<mp::StartMethod> methods = mp::GetAllStartMethods();
  if (std::find(methods.begin(), methods.end(), mp::StartMethod::kForkserver) !=
      methods.end()) {
    benchmark::RegisterBenchmark("start_join_forkserver/mp",
                                 mp::bench::ForkserverMp)
        ->UseManualTime();
  }
  return mp::bench::RunAll(argc, argv);
}
