// Queue throughput between processes: P producers put N items in all, C
// consumers get them (then one stop item each); items/s from "go" (once
// every process runs: a ready/go handshake) to the last join. Workloads:
// 1->1, 4->1, 4->4, with small integers and 1 KiB strings. The median of 5
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
  // ASCII (the codec sends a std::string as a Python str, so it must be
  // UTF-8), the item's number first.
  std::string s(1024, 'x');
  const std::string digits = std::to_string(i);
  std::memcpy(s.data(), digits.data(), digits.size());
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
  // Each consumer's count of items got: their sum must be `items`.
  mp::SimpleQueue<int64_t> got = mp::SimpleQueue<int64_t>::Create().value();
  std::vector<mp::Process> ps;
  // A failed run ends its children (a consumer would wait forever) and
  // counts as 0 items/s.
  auto fail = [&](const char* what) {
    std::fprintf(stderr, "queue_%dto%d: %s failed\n", producers, consumers,
                 what);
    for (mp::Process& p : ps) {
      if (p.IsAlive()) p.Kill().IgnoreError();
    }
    for (mp::Process& p : ps) p.Join().IgnoreError();
    return 0.0;
  };
  for (int c = 0; c < consumers; ++c) {
    ps.emplace_back(
        [](mp::Queue<T>& q, mp::SimpleQueue<int>& ready,
           mp::SimpleQueue<int64_t>& got) {
          if (!ready.Put(1).ok()) return 1;
          for (int64_t n = 0;; ++n) {
            absl::StatusOr<T> item = q.Get();
            if (!item.ok()) {
              std::fprintf(stderr, "queue_benchmark: Get: %s\n",
                           item.status().ToString().c_str());
              return 1;
            }
            if (IsStop(*item)) return got.Put(n).ok() ? 0 : 1;
          }
        },
        q, ready, got);
  }
  for (int p = 0; p < producers; ++p) {
    ps.emplace_back(
        [](mp::Queue<T>& q, mp::SimpleQueue<int>& ready,
           mp::SimpleQueue<int>& go, int64_t n) {
          if (!ready.Put(1).ok() || !go.Get().ok()) return 1;
          for (int64_t i = 0; i < n; ++i) {
            if (absl::Status s = q.Put(MakeItem<T>(i)); !s.ok()) {
              std::fprintf(stderr, "queue_benchmark: Put: %s\n",
                           s.ToString().c_str());
              return 1;
            }
          }
          return 0;
        },
        q, ready, go, items / producers);
  }
  for (mp::Process& p : ps) {
    if (!p.Start().ok()) return fail("start");
  }
  for (std::size_t i = 0; i < ps.size(); ++i) {
    if (!ready.Get().ok()) return fail("ready");
  }
  const Clock::time_point start = Clock::now();
  for (int p = 0; p < producers; ++p) {
    if (!go.Put(1).ok()) return fail("go");
  }
  for (int p = consumers; p < consumers + producers; ++p) {
    if (!ps[p].Join().ok() || ps[p].exitcode() != 0) return fail("producer");
  }
  const T stop = IsStop<T>(MakeItem<T>(-1)) ? MakeItem<T>(-1) : T();
  for (int c = 0; c < consumers; ++c) {
    if (!q.Put(stop).ok()) return fail("stop");
  }
  for (int c = 0; c < consumers; ++c) {
    if (!ps[c].Join().ok() || ps[c].exitcode() != 0) return fail("consumer");
  }
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  int64_t total = 0;
  for (int c = 0; c < consumers; ++c) {
    absl::StatusOr<int64_t> n = got.Get();
    if (!n.ok()) return fail("count");
    total += *n;
  }
  if (total != items) return fail("delivering every item exactly once");
  return static_cast<double>(items) / seconds;
}

template <typename T>
void Report(const char* type, int producers, int consumers, int64_t items,
            const std::string& only) {
  char name[64];
  std::snprintf(name, sizeof name, "queue_%dto%d_%s", producers, consumers,
                type);
  if (std::string(name).find(only) == std::string::npos) return;
  std::vector<double> runs;
  for (int r = 0; r < 5; ++r) {
    runs.push_back(ItemsPerSecond<T>(producers, consumers, items));
  }
  std::sort(runs.begin(), runs.end());
  std::printf(
      "{\"name\": \"%s\", \"value\": %.0f, \"unit\": \"items/s\", "
      "\"impl\": \"mp\"}\n",
      name, runs[2]);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  mp::Init(argc, argv);
  bool quick = false;
  std::string only;  // --only=SUBSTRING: the workloads whose name has it
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    if (std::strncmp(argv[i], "--only=", 7) == 0) only = argv[i] + 7;
  }
  const int64_t n = quick ? 20000 : 400000;
  for (auto [p, c] : {std::pair{1, 1}, std::pair{4, 1}, std::pair{4, 4}}) {
    Report<int64_t>("int", p, c, n, only);
    Report<std::string>("1KiB", p, c, n / 4, only);
  }
  return 0;
}
