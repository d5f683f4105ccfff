// Processes given Connections: which handles the child keeps, and which the
// parent closes.
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "ipc/connection.h"
#include "process/process.h"

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

// The other end has no writer left anywhere: it reports end of stream soon.
bool SeesEof(Connection& c) {
  absl::StatusOr<bool> ready = c.Poll(absl::Seconds(5));
  if (!ready.ok() || !*ready) return false;
  return IsEof(c.RecvBytes().status());
}

TEST(ProcessConnectionTest, ChildOfAMovedEndReceivesAndReplies) {
  auto [mine, theirs] = Pipe().value();
  Process p(
      [](Connection& c) {
        for (;;) {
          absl::StatusOr<int> n = c.Recv<int>();
          if (IsEof(n.status())) return 0;
          if (!n.ok() || !c.Send(*n * 2).ok()) return 1;
        }
      },
      std::move(theirs));
  ASSERT_TRUE(p.Start().ok());
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(mine.Send(i).ok());
    EXPECT_EQ(mine.Recv<int>().value(), 2 * i);
  }
  ASSERT_TRUE(mine.Close().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(ProcessConnectionTest, ParentClosesItsCopyOfAMovedEndAfterStart) {
  auto [mine, theirs] = Pipe().value();
  Process p([](Connection& c) { return c.closed() ? 1 : 0; },
            std::move(theirs));
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);  // the child had it
  // The child exited; had the parent kept a copy, no EOF would come.
  EXPECT_TRUE(SeesEof(mine));
}

TEST(ProcessConnectionTest, StdRefConnectionStaysOpenInTheParent) {
  auto [mine, theirs] = Pipe().value();
  Process p([](Connection& c) { return c.Send(1).ok() ? 0 : 1; },
            std::ref(theirs));
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_FALSE(theirs.closed());
  EXPECT_EQ(mine.Recv<int>().value(), 1);
  ASSERT_TRUE(theirs.Send(2).ok());
  EXPECT_EQ(mine.Recv<int>().value(), 2);
}

TEST(ProcessConnectionTest, ConnectionsInsideContainersAreKept) {
  auto [a_mine, a_theirs] = Pipe().value();
  auto [b_mine, b_theirs] = Pipe().value();
  auto [c_mine, c_theirs] = Pipe().value();
  std::vector<Connection> ends;
  ends.push_back(std::move(a_theirs));
  ends.push_back(std::move(b_theirs));
  Process p(
      [](std::vector<Connection>& v, std::optional<Connection>& o) {
        for (Connection& c : v) {
          if (!c.Send(1).ok()) return 1;
        }
        return o->Send(2).ok() ? 0 : 1;
      },
      std::move(ends), std::optional<Connection>(std::move(c_theirs)));
  ASSERT_TRUE(p.Start().ok());
  EXPECT_EQ(a_mine.Recv<int>().value(), 1);
  EXPECT_EQ(b_mine.Recv<int>().value(), 1);
  EXPECT_EQ(c_mine.Recv<int>().value(), 2);
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(ProcessConnectionTest, ProducerConsumerWithAMovedEnd) {
  auto [receiver, sender] = Pipe(/*duplex=*/false).value();
  Process consumer(CountUntilEof, std::move(receiver));
  ASSERT_TRUE(consumer.Start().ok());
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(sender.Send(i).ok());
  ASSERT_TRUE(sender.Close().ok());
  ASSERT_TRUE(consumer.Join(absl::Seconds(30)).ok());
  EXPECT_EQ(consumer.exitcode(), 10);
}

// The seed as Python writes it: the child gets both ends and closes the one
// it does not use; the parent closes its receiving end.
TEST(ProcessConnectionTest, ProducerConsumerSeedPattern) {
  auto [output_p, input_p] = Pipe().value();
  Process consumer(
      [](Connection& output, Connection& input) {
        if (!input.Close().ok()) return 100;
        return CountUntilEof(output);
      },
      std::ref(output_p), std::ref(input_p));
  ASSERT_TRUE(consumer.Start().ok());
  ASSERT_TRUE(output_p.Close().ok());
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(input_p.Send(i).ok());
  ASSERT_TRUE(input_p.Close().ok());
  ASSERT_TRUE(consumer.Join(absl::Seconds(30)).ok());
  EXPECT_EQ(consumer.exitcode(), 10);
}

TEST(ProcessConnectionTest, UnrelatedChildDoesNotHoldAPipeOpen) {
  auto [receiver, sender] = Pipe(/*duplex=*/false).value();
  Process unrelated([] { absl::SleepFor(absl::Seconds(2)); });
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

}  // namespace
}  // namespace mp
