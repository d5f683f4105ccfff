// Processes given Connections: which handles the child keeps, and which the
// parent closes; under every start method, so targets are registered
// functions.
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/ipc/listener.h"
#include "multiprocessing/process/process.h"
#include "multiprocessing/process/test_main.h"

namespace mp {
namespace {

// Receives ints until end of stream; returns how many, or 100 on an error or
// a wrong sequence (it expects 1, 2, 3, ...).
int CountUntilEof(Connection& input) {
  for (int count = 0;; ++count) {
    absl::StatusOr<int> item = input.Recv<int>();
    if (IsEof(item.status())) return count;
    if (!item.ok() || *item != count + 1) return 100;
  }
}

MP_REGISTER_TARGET(CountUntilEof);

// Sends back each int it receives, doubled, until end of stream.
int Double(Connection& c) {
  for (;;) {
    absl::StatusOr<int> n = c.Recv<int>();
    if (IsEof(n.status())) return 0;
    if (!n.ok() || !c.Send(*n * 2).ok()) return 1;
  }
}
MP_REGISTER_TARGET(Double);

int FailIfClosed(Connection& c) { return c.closed() ? 1 : 0; }
MP_REGISTER_TARGET(FailIfClosed);

int SendOne(Connection& c) { return c.Send(1).ok() ? 0 : 1; }
MP_REGISTER_TARGET(SendOne);

// Sends 1 on each of `v`, then 2 on `o`.
int SendOnEach(std::vector<Connection>& v, std::optional<Connection>& o) {
  for (Connection& c : v) {
    if (!c.Send(1).ok()) return 1;
  }
  return o->Send(2).ok() ? 0 : 1;
}
MP_REGISTER_TARGET(SendOnEach);

// The seed's consumer: closes the end it does not use, then counts.
int CloseInputAndCount(Connection& output, Connection& input) {
  if (!input.Close().ok()) return 100;
  return CountUntilEof(output);
}
MP_REGISTER_TARGET(CloseInputAndCount);

void SleepTwoSeconds() { absl::SleepFor(absl::Seconds(2)); }
MP_REGISTER_TARGET(SleepTwoSeconds);

using ProcessConnectionTest = test_util::EveryStartMethod;

// The other end has no writer left anywhere: it reports end of stream soon.
bool SeesEof(Connection& c) {
  absl::StatusOr<bool> ready = c.Poll(absl::Seconds(5));
  if (!ready.ok() || !*ready) return false;
  return IsEof(c.RecvBytes().status());
}

TEST_P(ProcessConnectionTest, ChildOfAMovedEndReceivesAndReplies) {
  auto [mine, theirs] = Pipe().value();
  Process p = Make(Double, std::move(theirs));
  ASSERT_TRUE(p.Start().ok());
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(mine.Send(i).ok());
    EXPECT_EQ(mine.Recv<int>().value(), 2 * i);
  }
  ASSERT_TRUE(mine.Close().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(ProcessConnectionTest, ParentClosesItsCopyOfAMovedEndAfterStart) {
  auto [mine, theirs] = Pipe().value();
  Process p = Make(FailIfClosed, std::move(theirs));
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);  // the child had it
  // The child exited; had the parent kept a copy, no EOF would come.
  EXPECT_TRUE(SeesEof(mine));
}

TEST_P(ProcessConnectionTest, StdRefConnectionStaysOpenInTheParent) {
  auto [mine, theirs] = Pipe().value();
  Process p = Make(SendOne, std::ref(theirs));
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_FALSE(theirs.closed());
  EXPECT_EQ(mine.Recv<int>().value(), 1);
  ASSERT_TRUE(theirs.Send(2).ok());
  EXPECT_EQ(mine.Recv<int>().value(), 2);
}

TEST_P(ProcessConnectionTest, ConnectionsInsideContainersAreKept) {
  auto [a_mine, a_theirs] = Pipe().value();
  auto [b_mine, b_theirs] = Pipe().value();
  auto [c_mine, c_theirs] = Pipe().value();
  std::vector<Connection> ends;
  ends.push_back(std::move(a_theirs));
  ends.push_back(std::move(b_theirs));
  Process p = Make(SendOnEach, std::move(ends),
                   std::optional<Connection>(std::move(c_theirs)));
  ASSERT_TRUE(p.Start().ok());
  EXPECT_EQ(a_mine.Recv<int>().value(), 1);
  EXPECT_EQ(b_mine.Recv<int>().value(), 1);
  EXPECT_EQ(c_mine.Recv<int>().value(), 2);
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(ProcessConnectionTest, ProducerConsumerWithAMovedEnd) {
  auto [receiver, sender] = Pipe(/*duplex=*/false).value();
  Process consumer = Make(CountUntilEof, std::move(receiver));
  ASSERT_TRUE(consumer.Start().ok());
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(sender.Send(i).ok());
  ASSERT_TRUE(sender.Close().ok());
  ASSERT_TRUE(consumer.Join(absl::Seconds(30)).ok());
  EXPECT_EQ(consumer.exitcode(), 10);
}

// The seed as Python writes it: the child gets both ends and closes the one
// it does not use; the parent closes its receiving end.
TEST_P(ProcessConnectionTest, ProducerConsumerSeedPattern) {
  auto [output_p, input_p] = Pipe().value();
  Process consumer =
      Make(CloseInputAndCount, std::ref(output_p), std::ref(input_p));
  ASSERT_TRUE(consumer.Start().ok());
  ASSERT_TRUE(output_p.Close().ok());
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(input_p.Send(i).ok());
  ASSERT_TRUE(input_p.Close().ok());
  ASSERT_TRUE(consumer.Join(absl::Seconds(30)).ok());
  EXPECT_EQ(consumer.exitcode(), 10);
}

TEST_P(ProcessConnectionTest, UnrelatedChildDoesNotHoldAPipeOpen) {
  auto [receiver, sender] = Pipe(/*duplex=*/false).value();
  Process unrelated = Make(SleepTwoSeconds);
  ASSERT_TRUE(unrelated.Start().ok());
  ASSERT_TRUE(sender.Close().ok());
  const absl::Time start = absl::Now();
  absl::StatusOr<bool> ready = receiver.Poll(absl::Seconds(1));
  ASSERT_TRUE(ready.ok());
  EXPECT_TRUE(*ready);
  EXPECT_TRUE(IsEof(receiver.RecvBytes().status()));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  ASSERT_TRUE(unrelated.Kill().ok());
  ASSERT_TRUE(unrelated.Join().ok());
}

TEST_P(ProcessConnectionTest, AnAcceptedTcpConnectionWorksInTheChild) {
  Listener listener = Listener::Create("127.0.0.1:0").value();
  Connection ours = Client(listener.address()).value();
  Connection theirs = listener.Accept().value();
  Process p = Make(Double, std::move(theirs));
  ASSERT_TRUE(p.Start().ok());
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(ours.Send(i).ok());
    EXPECT_EQ(ours.Recv<int>().value_or(-1), 2 * i);
  }
  ASSERT_TRUE(ours.Close().ok());  // the child sees end of stream
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

MP_INSTANTIATE_FOR_EVERY_START_METHOD(ProcessConnectionTest);

}  // namespace
}  // namespace mp
