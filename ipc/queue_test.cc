// Queue semantics inside one process (threads for the other side); the
// tests between processes are in tests/queue_test.cc.
#include "multiprocessing/ipc/queue.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/internal/queue_core.h"
#include "multiprocessing/platform/handle.h"

namespace mp {
namespace {

// One process, threads for the other side.
TEST(QueueSemanticsTest, TimeoutsEmptyFullAndBlocking) {
  Queue<int> q = Queue<int>::Create(2).value();
  EXPECT_TRUE(q.empty());
  EXPECT_TRUE(IsEmpty(q.GetNowait().status()));
  absl::Time start = absl::Now();
  EXPECT_TRUE(IsEmpty(q.Get(true, absl::Milliseconds(100)).status()));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ASSERT_TRUE(q.Put(1).ok());
  ASSERT_TRUE(q.PutNowait(2).ok());
  EXPECT_TRUE(q.full());
  EXPECT_EQ(q.qsize(), 2u);
  EXPECT_TRUE(IsFull(q.PutNowait(3)));
  start = absl::Now();
  EXPECT_TRUE(IsFull(q.Put(3, true, absl::Milliseconds(100))));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
  // A blocked Put() returns once a Get() makes room.
  std::thread getter([&] {
    absl::SleepFor(absl::Milliseconds(100));
    EXPECT_EQ(q.Get().value_or(-1), 1);
  });
  start = absl::Now();
  ASSERT_TRUE(q.Put(3).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  getter.join();
  EXPECT_EQ(q.Get().value_or(-1), 2);
  EXPECT_EQ(q.Get().value_or(-1), 3);
  EXPECT_TRUE(q.empty());
}

TEST(QueueSemanticsTest, ClosedQueueIsAClearError) {
  Queue<int> q = Queue<int>::Create().value();
  EXPECT_EQ(q.JoinThread().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(q.Put(1).ok());
  q.Close();
  ASSERT_TRUE(q.JoinThread().ok());  // the buffered item was written
  EXPECT_EQ(q.Put(2).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(q.Get().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(q.qsize(), 1u);
}

TEST(QueueSemanticsTest, WrongTypeIsInvalidArgument) {
  // A peer that puts another type: a Queue<int> on the same channel and
  // counters, made the way a spawned child makes one (the queue encoded as
  // a Process argument, decoded against a table of inherited handles), from
  // duplicates of this queue's handles.
  Queue<std::string> strings = Queue<std::string>::Create().value();
  HandleTable found;
  std::string encoded;
  ASSERT_TRUE(Encode(strings, &encoded, &found).ok());
  ASSERT_EQ(found.handles().size(), 3u);
  std::vector<platform::NativeHandle> numbers;
  for (platform::NativeHandle h : found.handles()) {
    numbers.push_back(platform::Duplicate(h).value().release());
  }
  HandleTable inherited = HandleTable::Inherited(numbers);
  absl::StatusOr<Queue<int>> ints = Decode<Queue<int>>(encoded, &inherited);
  ASSERT_TRUE(ints.ok()) << ints.status();
  ASSERT_TRUE(strings.Put("not a number").ok());
  EXPECT_EQ(ints->Get(true, absl::Seconds(10)).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(ints->Put(7).ok());
  EXPECT_EQ(strings.Get(true, absl::Seconds(10)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(strings.qsize(), 0u);
}

// Puts and gets small and large items, with and without the feeder.
void UseQueues() {
  Queue<std::string> q = Queue<std::string>::Create().value();
  SimpleQueue<std::string> s = SimpleQueue<std::string>::Create().value();
  for (const std::string& item :
       {std::string("small"), std::string(1 << 20, 'L')}) {
    ASSERT_TRUE(q.Put(item).ok());
    EXPECT_EQ(q.Get(true, absl::Seconds(10)).value_or("?"), item);
    ASSERT_TRUE(s.Put(item).ok());
    EXPECT_EQ(s.Get().value_or("?"), item);
  }
}

TEST(QueueSemanticsTest, QueuesLeaveNoHandleBehind) {
  for (int i = 0; i < 3; ++i) UseQueues();  // what is made once, made now
  const int before = platform::CountOpenHandles().value();
  for (int i = 0; i < 10; ++i) UseQueues();
  // One more handle may appear once, not per queue: winpthreads (mingw)
  // gives a global mutex a kernel object at its first contention.
  EXPECT_LE(platform::CountOpenHandles().value(), before + 1);
}

}  // namespace
}  // namespace mp
