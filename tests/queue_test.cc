// Queue, SimpleQueue and JoinableQueue between processes, under both start
// methods: Python's semantics, many producers and consumers, and the bad day
// (a consumer killed in the middle, huge, empty and mistyped items).
#include "multiprocessing/ipc/queue.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/internal/queue_core.h"
#include "multiprocessing/platform/test_util.h"
#include "multiprocessing/process/process.h"
#include "multiprocessing/process/test_main.h"

namespace mp {
namespace {

using Item = std::pair<int64_t, int64_t>;  // (producer, sequence number)

int Produce(Queue<Item>& q, int64_t producer, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    if (!q.Put(Item(producer, i)).ok()) return 1;
  }
  return 0;  // returning flushes the feeder: nothing is lost
}
MP_REGISTER_TARGET(Produce);

// Gets items until (-1, -1); sends back how many of each producer it saw,
// and 1 if one producer's items came out of order.
int Consume(Queue<Item>& q, Queue<std::vector<int64_t>>& out,
            int64_t producers) {
  std::vector<int64_t> counts(producers, 0), last(producers, -1);
  int64_t disorder = 0;
  for (;;) {
    absl::StatusOr<Item> item = q.Get();
    if (!item.ok()) return 1;
    if (item->first < 0) break;
    if (item->second <= last[item->first]) disorder = 1;
    last[item->first] = item->second;
    ++counts[item->first];
  }
  counts.push_back(disorder);
  return out.Put(counts).ok() ? 0 : 2;
}
MP_REGISTER_TARGET(Consume);

int GetForever(Queue<Item>& q) {
  for (;;) {
    if (!q.Get().ok()) return 1;
  }
}
MP_REGISTER_TARGET(GetForever);

int EchoSize(Queue<std::string>& in, Queue<int64_t>& out) {
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::string> s = in.Get();
    if (!s.ok() || !out.Put(static_cast<int64_t>(s->size())).ok()) return 1;
    if (!s->empty() && s->find_first_not_of('z') != std::string::npos) {
      return 2;
    }
  }
  return 0;
}
MP_REGISTER_TARGET(EchoSize);

int PutHugeAndReturn(Queue<std::string>& q) {
  return q.Put(std::string(8 << 20, 'h')).ok() ? 0 : 1;
}
MP_REGISTER_TARGET(PutHugeAndReturn);

int WorkAndTaskDone(JoinableQueue<int>& q, int items) {
  for (int i = 0; i < items; ++i) {
    if (!q.Get().ok()) return 1;
    absl::SleepFor(absl::Milliseconds(5));
    if (!q.TaskDone().ok()) return 2;
  }
  return 0;
}
MP_REGISTER_TARGET(WorkAndTaskDone);

int SimpleEcho(SimpleQueue<std::string>& in, SimpleQueue<std::string>& out) {
  absl::StatusOr<std::string> s = in.Get();
  return s.ok() && out.Put(*s + "!").ok() ? 0 : 1;
}
MP_REGISTER_TARGET(SimpleEcho);

int HoldTheLockForever(Queue<Item>& q) {
  ipc_internal::QueueAccess::Core(q)->AcquireLockForTesting();
  for (;;) absl::SleepFor(absl::Seconds(1));
}
MP_REGISTER_TARGET(HoldTheLockForever);

// Puts (producer, 0), (producer, 1), ... until killed; each Put writes
// straight into the queue (SimpleQueue: no feeder thread).
int PutUntilKilled(SimpleQueue<Item>& q, int64_t producer) {
  for (int64_t i = 0;; ++i) {
    if (!q.Put(Item(producer, i)).ok()) return 1;
  }
}
MP_REGISTER_TARGET(PutUntilKilled);

using QueueTest = ::mp::test_util::EveryStartMethod;

TEST_P(QueueTest, FourProducersFourConsumersEveryItemOnceInOrder) {
  constexpr int kProducers = 4, kConsumers = 4;
  constexpr int64_t kPerProducer = 25000;  // 100k items in all
  Queue<Item> q = Queue<Item>::Create().value();
  Queue<std::vector<int64_t>> results =
      Queue<std::vector<int64_t>>::Create().value();
  std::vector<Process> processes;
  for (int c = 0; c < kConsumers; ++c) {
    processes.push_back(
        Make(Consume, q, results, static_cast<int64_t>(kProducers)));
  }
  for (int p = 0; p < kProducers; ++p) {
    processes.push_back(
        Make(Produce, q, static_cast<int64_t>(p), kPerProducer));
  }
  for (Process& p : processes) ASSERT_TRUE(p.Start().ok());
  for (int p = kConsumers; p < kConsumers + kProducers; ++p) {
    ASSERT_TRUE(processes[p].Join().ok());
    EXPECT_EQ(processes[p].exitcode(), 0);
  }
  for (int c = 0; c < kConsumers; ++c) ASSERT_TRUE(q.Put(Item(-1, -1)).ok());
  std::vector<int64_t> total(kProducers, 0);
  for (int c = 0; c < kConsumers; ++c) {
    absl::StatusOr<std::vector<int64_t>> counts =
        results.Get(true, absl::Seconds(60));
    ASSERT_TRUE(counts.ok()) << counts.status();
    ASSERT_EQ(counts->size(), kProducers + 1u);
    EXPECT_EQ(counts->back(), 0) << "a producer's items arrived out of order";
    for (int p = 0; p < kProducers; ++p) total[p] += (*counts)[p];
  }
  for (int p = 0; p < kProducers; ++p) EXPECT_EQ(total[p], kPerProducer);
  for (int c = 0; c < kConsumers; ++c) {
    ASSERT_TRUE(processes[c].Join().ok());
    EXPECT_EQ(processes[c].exitcode(), 0);
  }
  EXPECT_EQ(q.qsize(), 0u);
}

TEST_P(QueueTest, AKilledConsumerDoesNotWedgeTheOthers) {
  Queue<Item> q = Queue<Item>::Create().value();
  // Two consumers block inside Get(); kill them there, many times over.
  for (int round = 0; round < 5; ++round) {
    Process a = Make(GetForever, q);
    Process b = Make(GetForever, q);
    ASSERT_TRUE(a.Start().ok());
    ASSERT_TRUE(b.Start().ok());
    absl::SleepFor(absl::Milliseconds(20));
    ASSERT_TRUE(a.Kill().ok());
    ASSERT_TRUE(b.Kill().ok());
    ASSERT_TRUE(a.Join().ok());
    ASSERT_TRUE(b.Join().ok());
  }
  // The survivors (here: this process) still put and get everything.
  for (int64_t i = 0; i < 100; ++i) ASSERT_TRUE(q.Put(Item(0, i)).ok());
  for (int64_t i = 0; i < 100; ++i) {
    absl::StatusOr<Item> item = q.Get(true, absl::Seconds(10));
    ASSERT_TRUE(item.ok()) << item.status();
    EXPECT_EQ(item->second, i);
  }
}

TEST_P(QueueTest, AProcessKilledHoldingTheLockDoesNotWedgeTheOthers) {
  Queue<Item> q = Queue<Item>::Create().value();
  ASSERT_TRUE(q.Put(Item(0, 0)).ok());
  Process holder = Make(HoldTheLockForever, q);
  ASSERT_TRUE(holder.Start().ok());
  absl::SleepFor(absl::Milliseconds(200));  // it holds the lock by now
  // While it holds the lock (alive, as a stopped process would be), a Get()
  // with a timeout still returns at its deadline.
  const absl::Time start = absl::Now();
  EXPECT_TRUE(IsEmpty(q.Get(true, absl::Milliseconds(300)).status()));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_TRUE(IsEmpty(q.GetNowait().status()));
  ASSERT_TRUE(holder.Kill().ok());
  ASSERT_TRUE(holder.Join().ok());
  // The next process to lock it takes it over: nothing hangs, nothing lost.
  for (int64_t i = 1; i <= 100; ++i) ASSERT_TRUE(q.Put(Item(0, i)).ok());
  for (int64_t i = 0; i <= 100; ++i) {
    absl::StatusOr<Item> item = q.Get(true, absl::Seconds(10));
    ASSERT_TRUE(item.ok()) << item.status();
    EXPECT_EQ(item->second, i);
  }
}

TEST_P(QueueTest, ProducersKilledMidPutLeaveWholeItemsInOrder) {
  SimpleQueue<Item> q = SimpleQueue<Item>::Create().value();
  constexpr int kProducers = 3;
  // Each round: producers put as fast as they can, this process takes as
  // many as it can, then kills them wherever they are (some inside the
  // lock, given enough rounds).
  std::vector<int64_t> next(kProducers * 20, 0);
  for (int round = 0; round < 20; ++round) {
    std::vector<Process> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.push_back(Make(PutUntilKilled, q,
                               static_cast<int64_t>(round * kProducers + p)));
      ASSERT_TRUE(producers.back().Start().ok());
    }
    for (int i = 0; i < 2000; ++i) {
      absl::StatusOr<Item> item = q.Get();
      ASSERT_TRUE(item.ok()) << item.status();
      // Whole, once and in order: exactly the next item of its producer.
      ASSERT_EQ(item->second, next[item->first]++);
    }
    for (Process& p : producers) ASSERT_TRUE(p.Kill().ok());
    for (Process& p : producers) ASSERT_TRUE(p.Join().ok());
  }
  // What the killed producers left is still whole and in order (the ring
  // may be full: drain it before putting), and the queue works for the
  // survivors.
  while (!q.empty()) {
    absl::StatusOr<Item> item = q.Get();
    ASSERT_TRUE(item.ok()) << item.status();
    ASSERT_EQ(item->second, next[item->first]++);
  }
  ASSERT_TRUE(q.Put(Item(0, -1)).ok());
  EXPECT_EQ(q.Get().value_or(Item(0, 0)), Item(0, -1));
  EXPECT_TRUE(q.empty());
}

TEST_P(QueueTest, HugeAndEmptyItemsCrossProcesses) {
  Queue<std::string> in = Queue<std::string>::Create().value();
  Queue<int64_t> out = Queue<int64_t>::Create().value();
  Process p = Make(EchoSize, in, out);
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(in.Put(std::string(64 << 20, 'z')).ok());
  ASSERT_TRUE(in.Put(std::string()).ok());
  EXPECT_EQ(out.Get(true, absl::Seconds(60)).value_or(-1), 64 << 20);
  EXPECT_EQ(out.Get(true, absl::Seconds(60)).value_or(-1), 0);
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(QueueTest, AHugeItemOutlivesItsProducersReturn) {
  Queue<std::string> q = Queue<std::string>::Create().value();
  Process p = Make(PutHugeAndReturn, q);
  ASSERT_TRUE(p.Start().ok());
  // Long enough for a producer to be gone, had it not waited at exit (on
  // Windows its memory lives in the producer until taken).
  absl::SleepFor(absl::Milliseconds(500));
  absl::StatusOr<std::string> item = q.Get(true, absl::Seconds(60));
  ASSERT_TRUE(item.ok()) << item.status();
  EXPECT_EQ(item->size(), 8u << 20);
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(QueueTest, JoinWaitsForEveryTaskDone) {
  JoinableQueue<int> q = JoinableQueue<int>::Create().value();
  Process worker = Make(WorkAndTaskDone, q, 20);
  ASSERT_TRUE(worker.Start().ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(q.Put(i).ok());
  const absl::Time start = absl::Now();
  ASSERT_TRUE(q.Join().ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(20 * 5 / 2));
  ASSERT_TRUE(worker.Join().ok());
  EXPECT_EQ(worker.exitcode(), 0);
  EXPECT_EQ(q.TaskDone().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(QueueTest, SimpleQueueAcrossProcesses) {
  auto in = SimpleQueue<std::string>::Create().value();
  auto out = SimpleQueue<std::string>::Create().value();
  Process p = Make(SimpleEcho, in, out);
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(in.Put("hi").ok());
  EXPECT_EQ(out.Get().value_or("?"), "hi!");
  ASSERT_TRUE(p.Join().ok());
  EXPECT_TRUE(in.empty());
}

MP_INSTANTIATE_FOR_EVERY_START_METHOD(QueueTest);

}  // namespace
}  // namespace mp
