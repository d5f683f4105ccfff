// Pool workloads, next to what they cost without the library, in one run:
//
//   pool_map_100k        Map of x*x over 100,000 int64 with the default
//                        chunksize on CpuCount() workers (median ms).
//                        raw: the same number of forked workers, kept for
//                        the whole run, each sent its share of the array
//                        over a socketpair as raw int64s and answering with
//                        the squares: no encoding, no chunks, no threads.
//   pool_tasks_1ms       1,000 tasks that sleep 1 ms each (Map, default
//                        chunksize) on CpuCount() workers (ms); "ideal" is
//                        what 1,000 such sleeps take in one process, over
//                        CpuCount().
//   pool_start_close_join  Pool(CpuCount()) + Close() + Join() (ms).
//
// benchmarks/pool_cpython.py measures CPython's Pool on the same.
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "multiprocessing/benchmarks/bench_util.h"
#include "multiprocessing/benchmarks/pool_workload.h"
#include "multiprocessing/pool/pool.h"
#include "multiprocessing/process/process.h"

namespace mp::bench {
namespace {

using Clock = Latencies::Clock;

int Workers() { return CpuCount().value_or(1); }

void MapMp(benchmark::State& state) {
  Pool pool = Pool::Create(Workers()).value();
  const std::vector<int64_t> input = Input(100000);
  Measure(state, [&] {
    absl::StatusOr<std::vector<int64_t>> out = pool.Map(Square, input);
    return out.ok() && out->size() == input.size() &&
           (*out)[99999] == 99999LL * 99999;
  });
}

bool ReadAll(int fd, void* p, std::size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::read(fd, c, n);
    if (r <= 0) return false;
    c += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}
bool WriteAll(int fd, const void* p, std::size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t r = ::write(fd, c, n);
    if (r <= 0) return false;
    c += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

void MapRaw(benchmark::State& state) {
  const int n = Workers();
  std::vector<int> fds;
  std::vector<pid_t> pids;
  for (int w = 0; w < n; ++w) {
    int sv[2];
    ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(sv[0]);
      std::vector<int64_t> buf;
      for (;;) {
        int64_t count;
        if (!ReadAll(sv[1], &count, sizeof count)) ::_exit(0);
        buf.resize(static_cast<std::size_t>(count));
        if (!ReadAll(sv[1], buf.data(), buf.size() * 8)) ::_exit(1);
        for (int64_t& x : buf) x *= x;
        if (!WriteAll(sv[1], buf.data(), buf.size() * 8)) ::_exit(1);
      }
    }
    ::close(sv[1]);
    fds.push_back(sv[0]);
    pids.push_back(pid);
  }
  const std::vector<int64_t> input = Input(100000);
  std::vector<int64_t> out(input.size());
  Measure(state, [&] {
    const std::size_t per = (input.size() + n - 1) / n;
    bool ok = true;
    for (int w = 0; w < n; ++w) {
      const std::size_t first = std::min(input.size(), w * per);
      const int64_t count =
          static_cast<int64_t>(std::min(input.size(), first + per) - first);
      ok = ok && WriteAll(fds[w], &count, 8) &&
           WriteAll(fds[w], input.data() + first, count * 8);
    }
    for (int w = 0; w < n; ++w) {
      const std::size_t first = std::min(input.size(), w * per);
      const std::size_t count = std::min(input.size(), first + per) - first;
      ok = ok && ReadAll(fds[w], out.data() + first, count * 8);
    }
    return ok && out[99999] == 99999LL * 99999;
  });
  for (int fd : fds) ::close(fd);
  for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
}

void TasksMp(benchmark::State& state) {
  Pool pool = Pool::Create(Workers()).value();
  const std::vector<int64_t> input = Input(1000);
  Measure(state, [&] {
    absl::StatusOr<std::vector<int64_t>> out = pool.Map(SleepOneMs, input);
    return out.ok() && out->size() == 1000;
  });
}

// What the 1,000 sleeps cost with no pool: 100 of them timed here (a 1 ms
// sleep takes longer than 1 ms on a busy VM), times 10, over the workers.
void TasksIdeal(benchmark::State& state) {
  double seconds = 0;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    for (int i = 0; i < 100; ++i) SleepOneMs(i);
    seconds = std::chrono::duration<double>(Clock::now() - start).count() * 10 /
              Workers();
    state.SetIterationTime(seconds);
  }
  state.counters["median|us"] = seconds * 1e6;
}

void StartMp(benchmark::State& state) {
  Measure(state, [] {
    absl::StatusOr<Pool> pool = Pool::Create(Workers());
    if (!pool.ok()) return false;
    pool->Close();
    return pool->Join().ok();
  });
}

}  // namespace
}  // namespace mp::bench

int main(int argc, char** argv) {
  mp::Init(argc, argv);
  benchmark::RegisterBenchmark("pool_map_100k/raw", mp::bench::MapRaw)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("pool_map_100k/mp", mp::bench::MapMp)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("pool_tasks_1ms/ideal", mp::bench::TasksIdeal)
      ->UseManualTime()
      ->Iterations(1);
  benchmark::RegisterBenchmark("pool_tasks_1ms/mp", mp::bench::TasksMp)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("pool_start_close_join/mp", mp::bench::StartMp)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  return mp::bench::RunAll(argc, argv);
}
