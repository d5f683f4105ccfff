// The soak: many processes and many queue items in one bounded run, checking
// that nothing leaks. Not a timed test; run it directly:
//
//   bazel run -c opt //tests:soak -- [--processes=10000] [--items=10000000]
//       [--seconds=60]
//
// Phase 1 starts and joins --processes children one after another (every
// 20th with the spawn start method, the rest forked; all spawned where there
// is no fork), checking each exit code. Phase 2 pushes --items (producer,
// sequence) items through one Queue from 4 producer processes to 4 consumer
// processes (forked, or spawned where there is no fork), which check that each
// producer's items arrive in order and report counts and sums: every item
// must arrive exactly once. Each phase stops early at its share of
// --seconds (the counts reached are printed and checked).
//
// Before and after: open descriptors, children not waited for (zombies or
// running), and resident memory. The run fails if any descriptor or child
// is left over or memory grew by more than 16 MiB. Prints one JSON line.
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "multiprocessing/ipc/queue.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/test_util.h"
#include "multiprocessing/process/process.h"

ABSL_FLAG(int64_t, processes, 10000, "processes to start and join");
ABSL_FLAG(int64_t, items, 10000000, "queue items, 4 producers -> 4 consumers");
ABSL_FLAG(int64_t, seconds, 60, "bound on the whole run");

namespace {

using Item = std::pair<int64_t, int64_t>;  // (producer, sequence)
constexpr int kProducers = 4, kConsumers = 4;

int ExitWith(int64_t code) { return static_cast<int>(code); }
MP_REGISTER_TARGET(ExitWith);

// `deadline`: Unix nanoseconds (an argument a spawned child can decode).
int Produce(mp::Queue<Item>& q, int64_t producer, int64_t count,
            int64_t deadline_ns) {
  const absl::Time deadline = absl::FromUnixNanos(deadline_ns);
  for (int64_t i = 0; i < count; ++i) {
    if ((i & 0xffff) == 0 && absl::Now() > deadline) break;
    if (!q.Put(Item(producer, i)).ok()) return 1;
  }
  return 0;
}
MP_REGISTER_TARGET(Produce);

// Reports {count, sum of sequence numbers, out of order} per producer.
int Consume(mp::Queue<Item>& q, mp::Queue<std::vector<int64_t>>& results) {
  std::vector<int64_t> report(3 * kProducers, 0), last(kProducers, -1);
  for (;;) {
    absl::StatusOr<Item> item = q.Get();
    if (!item.ok()) return 1;
    const auto [p, i] = *item;
    if (p < 0) break;
    if (p >= kProducers) return 2;
    report[3 * p] += 1;
    report[3 * p + 1] += i;
    if (i <= last[p]) report[3 * p + 2] = 1;
    last[p] = i;
  }
  return results.Put(report).ok() ? 0 : 3;
}
MP_REGISTER_TARGET(Consume);

}  // namespace

int main(int argc, char** argv) {
  mp::Init(argc, argv);
  absl::ParseCommandLine(argc, argv);
  const int64_t want_processes = absl::GetFlag(FLAGS_processes);
  const int64_t want_items = absl::GetFlag(FLAGS_items);
  const absl::Duration budget = absl::Seconds(absl::GetFlag(FLAGS_seconds));
  const absl::Time start = absl::Now();
  bool ok = true;
  auto check = [&ok](bool good, const char* what) {
    if (!good) {
      std::fprintf(stderr, "soak: FAILED: %s\n", what);
      ok = false;
    }
  };

  // Warm up (lazy allocations: the child registry, stdio, the spawn path)
  // before the baseline.
  for (mp::StartMethod m : mp::GetAllStartMethods()) {
    mp::Process p = mp::GetContext(m).value().Process(ExitWith, int64_t{0});
    check(p.Start().ok() && p.Join().ok(), "warm-up process");
  }
  const int handles_before = mp::platform::CountOpenHandles().value_or(-1);
  const int64_t rss_before = mp::test_util::ResidentKiB();

  // Phase 1: processes in a row.
  const absl::Time phase1_end = start + budget / 2;
  // The default method: fork where there is one (Linux), else spawn.
  const mp::Context usual = mp::GetContext().value();
  const mp::Context spawn = mp::GetContext(mp::StartMethod::kSpawn).value();
  int64_t processes = 0;
  for (; processes < want_processes && absl::Now() < phase1_end; ++processes) {
    const int64_t code = processes % 200;
    mp::Process p =
        (processes % 20 == 19 ? spawn : usual).Process(ExitWith, code);
    if (!p.Start().ok() || !p.Join().ok() || p.exitcode() != code) {
      check(false, "a process did not start, join or exit as told");
      break;
    }
  }
  const double process_seconds = absl::ToDoubleSeconds(absl::Now() - start);

  // Phase 2: items 4 -> 4.
  const absl::Time phase2_start = absl::Now();
  const absl::Time phase2_end = start + budget;
  int64_t items = 0;
  {
    mp::Queue<Item> q = mp::Queue<Item>::Create().value();
    auto results = mp::Queue<std::vector<int64_t>>::Create().value();
    std::vector<mp::Process> ps;
    for (int c = 0; c < kConsumers; ++c)
      ps.push_back(usual.Process(Consume, q, results));
    for (int64_t p = 0; p < kProducers; ++p) {
      ps.push_back(usual.Process(Produce, q, p, want_items / kProducers,
                                 absl::ToUnixNanos(phase2_end)));
    }
    for (mp::Process& p : ps) check(p.Start().ok(), "start");
    for (int i = kConsumers; i < kConsumers + kProducers; ++i) {
      check(ps[i].Join().ok() && ps[i].exitcode() == 0, "producer");
    }
    for (int c = 0; c < kConsumers; ++c)
      check(q.Put(Item(-1, -1)).ok(), "stop");
    std::vector<int64_t> total(3 * kProducers, 0);
    for (int c = 0; c < kConsumers; ++c) {
      absl::StatusOr<std::vector<int64_t>> r =
          results.Get(true, absl::Minutes(5));
      check(r.ok() && r->size() == total.size(), "consumer report");
      if (!r.ok()) break;
      for (std::size_t k = 0; k < total.size() && k < r->size(); ++k)
        total[k] += (*r)[k];
    }
    for (int c = 0; c < kConsumers; ++c) {
      check(ps[c].Join().ok() && ps[c].exitcode() == 0, "consumer");
    }
    // Exactly once: producer p put 0..n_p-1 for some n_p, so its count is
    // n_p and its sum n_p(n_p-1)/2; and in order.
    for (int p = 0; p < kProducers; ++p) {
      const int64_t n = total[3 * p];
      check(total[3 * p + 1] == n * (n - 1) / 2, "an item lost or duplicated");
      check(total[3 * p + 2] == 0, "a producer's items out of order");
      items += n;
    }
  }
  const double item_seconds = absl::ToDoubleSeconds(absl::Now() - phase2_start);

  const int handles_after = mp::platform::CountOpenHandles().value_or(-2);
  const int64_t rss_after = mp::test_util::ResidentKiB();
  const bool unwaited = mp::test_util::HasUnwaitedChildren();
  check(handles_after == handles_before, "descriptors leaked");
  check(!unwaited, "a child left unwaited (zombie or running)");
  check(rss_after - rss_before < 16 * 1024, "resident memory grew by 16 MiB");
  std::printf(
      "{\"processes\": %lld, \"process_seconds\": %.1f, \"items\": %lld, "
      "\"item_seconds\": %.1f, \"items_per_second\": %.0f, "
      "\"handles_before\": %d, \"handles_after\": %d, \"unwaited_children\": "
      "%d, \"rss_kib_before\": %lld, \"rss_kib_after\": %lld, \"ok\": %s}\n",
      static_cast<long long>(processes), process_seconds,
      static_cast<long long>(items), item_seconds, items / item_seconds,
      handles_before, handles_after, unwaited ? 1 : 0,
      static_cast<long long>(rss_before), static_cast<long long>(rss_after),
      ok ? "true" : "false");
  return ok ? 0 : 1;
}
