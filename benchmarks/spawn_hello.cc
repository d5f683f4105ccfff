// A spawned hello-world: the smallest program that uses the spawn start
// method (it links only //process, not Google Benchmark), timing
//
//   spawn_hello_world  mp: Process(ReturnZero) with the spawn start method,
//                      Start() + Join(): this binary runs again, mp::Init
//                      reads the bootstrap message and runs the target,
//                      which only returns 0
//                      raw: posix_spawn("/bin/true") + waitpid()
//                      raw_self: posix_spawn() of this binary with
//                      --exit-now (it returns from main at once) + waitpid()
//
// median and 99th percentile in microseconds, as JSON lines like the other
// benchmarks' ({"name", "value", "unit", "impl"}); the three are interleaved
// so they meet the same moments of a shared machine. --quick: fewer runs.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "multiprocessing/benchmarks/spawn_util.h"
#include "multiprocessing/process/process.h"

namespace {

using Clock = std::chrono::steady_clock;
using mp::bench::SpawnAndWait;

int ReturnZero() { return 0; }
MP_REGISTER_TARGET(ReturnZero);

bool SpawnMp() {
  mp::Process p(ReturnZero);
  return p.set_start_method(mp::StartMethod::kSpawn).ok() && p.Start().ok() &&
         p.Join().ok() && p.exitcode() == 0;
}

void Report(const char* impl, std::vector<double>& micros) {
  std::sort(micros.begin(), micros.end());
  const double median = micros[micros.size() / 2];
  const double p99 = micros[micros.size() * 99 / 100];
  for (auto [metric, value] :
       {std::pair{"median", median}, std::pair{"p99", p99}}) {
    std::printf(
        "{\"name\": \"spawn_hello_world_%s\", \"value\": %.6g, \"unit\": "
        "\"us\", \"impl\": \"%s\"}\n",
        metric, value, impl);
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--exit-now") == 0) return 0;
  mp::Init(argc, argv);
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int runs = quick ? 10 : 200;
  static char bin_true[] = "/bin/true";
  static char self[] = "/proc/self/exe";
  static char exit_now[] = "--exit-now";
  char* true_argv[] = {bin_true, nullptr};
  char* self_argv[] = {self, exit_now, nullptr};
  std::vector<double> mp_us, raw_us, self_us;
  auto time = [](auto f, std::vector<double>& out) {
    const Clock::time_point start = Clock::now();
    if (!f()) return false;
    out.push_back(
        std::chrono::duration<double, std::micro>(Clock::now() - start)
            .count());
    return true;
  };
  for (int i = 0; i < runs; ++i) {
    if (!time(SpawnMp, mp_us) ||
        !time([&] { return SpawnAndWait(true_argv); }, raw_us) ||
        !time([&] { return SpawnAndWait(self_argv); }, self_us)) {
      std::fprintf(stderr, "spawn_hello: a start or join failed\n");
      return 1;
    }
  }
  Report("mp", mp_us);
  Report("raw", raw_us);
  Report("raw_self", self_us);
  return 0;
}
