// Read-ahead and processes, under every start method: a Connection with
// bytes received ahead cannot be passed to a Process; one passed by
// std::ref is shared (both processes read one message per receive, so they
// can take turns under a lock); one moved in by value reads ahead in the
// child.
#include <functional>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/process/process.h"
#include "multiprocessing/process/test_main.h"
#include "multiprocessing/sync/synchronize.h"

namespace mp {
namespace {

constexpr int kStop = -1;

// Receives ints under `lock` until kStop; sends how many it took on `out`.
int TakeTurns(Connection& in, Lock& lock, Connection& out) {
  int taken = 0;
  for (;;) {
    absl::StatusOr<int> item;
    {
      std::lock_guard<Lock> hold(lock);
      // Everything was written before: nothing to read for long means
      // another reader took it ahead (fail rather than hang).
      absl::StatusOr<bool> ready = in.Poll(absl::Seconds(20));
      if (!ready.ok() || !*ready) return 4;
      item = in.Recv<int>();
    }
    if (!item.ok()) return 2;
    if (*item == kStop) break;
    ++taken;
  }
  return out.Send(taken).ok() ? 0 : 3;
}
MP_REGISTER_TARGET(TakeTurns);

// 0 when `in` is shared and reads one message per receive.
int ExpectShared(Connection& in) {
  if (!in.shared()) return 10;
  if (!in.Recv<int>().ok()) return 11;
  return in.bytes_received_ahead() == 0 ? 0 : 12;
}
MP_REGISTER_TARGET(ExpectShared);

// 0 when `in` (moved in by value) reads ahead: after the first of many
// messages written at once, the rest are in its buffer; then all arrive.
int ExpectReadAhead(Connection& in, int count) {
  if (in.shared()) return 20;
  if (in.Recv<int>().value_or(-1) != 0) return 21;
  if (in.bytes_received_ahead() == 0) return 22;
  for (int i = 1; i < count; ++i) {
    if (in.Recv<int>().value_or(-1) != i) return 23;
  }
  return IsEof(in.Recv<int>().status()) ? 0 : 24;
}
MP_REGISTER_TARGET(ExpectReadAhead);

int Nothing(Connection&) { return 0; }
MP_REGISTER_TARGET(Nothing);

using ConnectionBufferProcessTest = test_util::EveryStartMethod;

TEST_P(ConnectionBufferProcessTest, BytesReceivedAheadFailStart) {
  auto [reader, writer] = Pipe().value();
  ASSERT_TRUE(writer.Send(1).ok());
  ASSERT_TRUE(writer.Send(2).ok());
  // Both frames come with one read (they were written before it).
  ASSERT_TRUE(reader.Poll(absl::Seconds(5)).value());
  ASSERT_EQ(reader.Recv<int>().value(), 1);
  ASSERT_GT(reader.bytes_received_ahead(), 0u);
  {
    Process p = Make(Nothing, std::ref(reader));
    absl::Status s = p.Start();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "bytes received ahead")) << s;
  }
  {
    if (GetParam() == StartMethod::kFork) {  // pointers: fork only
      Connection* pointer = &reader;
      Process p = Make([](Connection*) { return 0; }, pointer);
      absl::Status s = p.Start();
      EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    }
  }
  // The message is still ours.
  EXPECT_EQ(reader.Recv<int>().value(), 2);
  Connection moved = std::move(reader);
  ASSERT_TRUE(writer.Send(3).ok());
  ASSERT_TRUE(writer.Send(4).ok());
  ASSERT_TRUE(moved.Poll(absl::Seconds(5)).value());
  ASSERT_EQ(moved.Recv<int>().value(), 3);
  Process p = Make(Nothing, std::move(moved));
  EXPECT_EQ(p.Start().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_P(ConnectionBufferProcessTest, StdRefSharesTheConnection) {
  auto [reader, writer] = Pipe(/*duplex=*/false).value();
  Process p = Make(ExpectShared, std::ref(reader));
  ASSERT_TRUE(p.Start().ok());
  EXPECT_TRUE(reader.shared());  // the parent's too
  ASSERT_TRUE(writer.Send(7).ok());
  ASSERT_TRUE(writer.Send(8).ok());
  ASSERT_TRUE(p.Join(absl::Seconds(30)).ok());
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(reader.Recv<int>().value(), 8);  // the child took one only
}

TEST_P(ConnectionBufferProcessTest, PointerSharesTheConnectionUnderFork) {
  if (GetParam() != StartMethod::kFork) GTEST_SKIP() << "pointers: fork only";
  auto [reader, writer] = Pipe(/*duplex=*/false).value();
  Connection* pointer = &reader;
  Process p = Make([](Connection* in) { return ExpectShared(*in); }, pointer);
  ASSERT_TRUE(p.Start().ok());
  EXPECT_TRUE(reader.shared());
  ASSERT_TRUE(writer.Send(7).ok());
  ASSERT_TRUE(writer.Send(8).ok());
  ASSERT_TRUE(p.Join(absl::Seconds(30)).ok());
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(reader.Recv<int>().value(), 8);
}

TEST_P(ConnectionBufferProcessTest, ByValueReadsAheadInTheChild) {
  auto [reader, writer] = Pipe(/*duplex=*/false).value();
  constexpr int kCount = 10000;
  Process p = Make(ExpectReadAhead, std::move(reader), kCount);
  ASSERT_TRUE(p.Start().ok());
  std::string all;
  for (int i = 0; i < kCount; ++i) {
    std::string one;
    ASSERT_TRUE(Encode(i, &one).ok());
    const char header[4] = {0, 0, 0, static_cast<char>(one.size())};
    all.append(header, 4);
    all += one;
  }
  // One write: the child's first read takes many frames.
  ASSERT_TRUE(
      platform::WriteAll(writer.fileno(), {{all.data(), all.size()}}).ok());
  ASSERT_TRUE(writer.Close().ok());
  ASSERT_TRUE(p.Join(absl::Seconds(60)).ok());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(ConnectionBufferProcessTest, TwoProcessesTakeTurnsUnderALock) {
  auto [reader, writer] = Pipe(/*duplex=*/false).value();
  auto [results, result_writer] = Pipe(/*duplex=*/false).value();
  Lock lock = Lock::Create().value();
  constexpr int kMessages = 2000;
  // All written before anyone reads, stops included: a reader that read
  // ahead would take them all and leave the other blocked under the lock.
  for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(writer.Send(i).ok());
  ASSERT_TRUE(writer.Send(kStop).ok());
  ASSERT_TRUE(writer.Send(kStop).ok());
  Process p = Make(TakeTurns, std::ref(reader), lock, std::ref(result_writer));
  ASSERT_TRUE(p.Start().ok());
  EXPECT_EQ(TakeTurns(reader, lock, result_writer), 0);
  const int mine = results.Recv<int>().value();
  ASSERT_TRUE(results.Poll(absl::Seconds(30)).value())
      << "the child is stuck (it read nothing, or is blocked under the lock)";
  const int theirs = results.Recv<int>().value();
  EXPECT_EQ(mine + theirs, kMessages);
  ASSERT_TRUE(p.Join(absl::Seconds(30)).ok());
  EXPECT_EQ(p.exitcode(), 0);
}

MP_INSTANTIATE_FOR_EVERY_START_METHOD(ConnectionBufferProcessTest);

}  // namespace
}  // namespace mp
