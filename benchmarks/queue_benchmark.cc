// Queue throughput between processes: P producers put N items in all, C
// consumers get them (then one stop item each); items/s from "go" (once
// every process runs: a ready/go handshake) to the last join. Workloads:
// 1->1, 4->1, 4->4, with small integers and 1 KiB strings. The median of 3
// runs is printed as JSON lines ({"name": "queue_<P>to<C>_<int|1KiB>",
// "value": items/s, "impl": "mp"}). benchmarks/queue_cpython.py measures
// CPython's multiprocessing.Queue on the same workloads. --quick: fewer
// items.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "multiprocessing/ipc/queue.h"
#include "multiprocessing/process/process.h"

namespace {

using Clock = std::chrono::steady_clock;

template <typename T>
T MakeItem(int64_t i);
template <>
int64_t MakeItem<int64_t>(int64_t i) {
  return i;
}
template <>
std::string MakeItem<std::string>(int64_t i) {
  std::string s(1024, 'x');
  std::memcpy(s.data(), &i, sizeof i);
  return s;
}

template <typename T>
bool IsStop(const T& item);
template <>
bool IsStop<int64_t>(const int64_t& item) {
  return item < 0;
}
template <>
bool IsStop<std::string>(const std::string& item) {
  return item.empty();
}

template <typename T>
double ItemsPerSecond(int producers, int consumers, int64_t items) {
  mp::Queue<T> q = mp::Queue<T>::Create().value();
  // Ready/go: the clock starts once every process runs, so process
  // start-up is not timed (queue_cpython.py does the same).
  mp::SimpleQueue<int> ready = mp::SimpleQueue<int>::Create().value();
  mp::SimpleQueue<int> go = mp::SimpleQueue<int>::Create().value();
  std::vector<mp::Process> ps;
  for (int c = 0; c < consumers; ++c) {
    ps.emplace_back([](mp::Queue<T>& q, mp::SimpleQueue<int>& ready) {
      if (!ready.Put(1).ok()) return 1;
      for (;;) {
        absl::StatusOr<T> item = q.Get();
        if (!item.ok()) return 1;
        if (IsStop(*item)) return 0;
      }
    }, q, ready);
  }
  for (int p = 0; p < producers; ++p) {
    ps.emplace_back([](mp::Queue<T>& q, mp::SimpleQueue<int>& ready,
                       mp::SimpleQueue<int>& go, int64_t n) {
      if (!ready.Put(1).ok() || !go.Get().ok()) return 1;
      for (int64_t i = 0; i < n; ++i) {
        if (!q.Put(MakeItem<T>(i)).ok()) return 1;
      }
      return 0;
    }, q, ready, go, items / producers);
  }
  for (mp::Process& p : ps) {
    if (!p.Start().ok()) return 0;
  }
  for (std::size_t i = 0; i < ps.size(); ++i) {
    if (!ready.Get().ok()) return 0;
  }
  const Clock::time_point start = Clock::now();
  for (int p = 0; p < producers; ++p) {
    if (!go.Put(1).ok()) return 0;
  }
  for (int p = consumers; p < consumers + producers; ++p) {
    if (!ps[p].Join().ok()) return 0;
  }
  for (int c = 0; c < consumers; ++c) {
    if (!q.Put(IsStop<T>(MakeItem<T>(-1)) ? MakeItem<T>(-1) : T()).ok()) {
      return 0;
    }
  }
  for (int c = 0; c < consumers; ++c) {
    if (!ps[c].Join().ok() || ps[c].exitcode() != 0) return 0;
  }
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(items) / seconds;
}

template <typename T>
void Report(const char* type, int producers, int consumers, int64_t items) {
  std::vector<double> runs;
  for (int r = 0; r < 3; ++r) {
    runs.push_back(ItemsPerSecond<T>(producers, consumers, items));
  }
  std::sort(runs.begin(), runs.end());
  std::printf(
      "{\"name\": \"queue_%dto%d_%s\", \"value\": %.0f, \"unit\": "
      "\"items/s\", \"impl\": \"mp\"}\n",
      producers, consumers, type, runs[1]);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  mp::Init(argc, argv);
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int64_t n = quick ? 20000 : 400000;
  for (auto [p, c] : {std::pair{1, 1}, std::pair{4, 1}, std::pair{4, 4}}) {
    Report<int64_t>("int", p, c, n);
    Report<std::string>("1KiB", p, c, n / 4);
  }
  return 0;
}
