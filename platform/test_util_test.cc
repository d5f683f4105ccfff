#include "multiprocessing/platform/test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/handle.h"

namespace mp::test_util {
namespace {

// The storm is only worth something if it really cuts blocking calls short:
// a raw read() on an empty pipe must fail with EINTR instead of blocking.
TEST(SignalStormTest, InterruptsBlockingCalls) {
  auto channel = platform::CreateOneWayChannel();
  ASSERT_TRUE(channel.ok()) << channel.status();
  SignalStorm storm(/*period_us=*/1000);
  char byte;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  ssize_t n = 0;
  while (absl::Now() < deadline) {
    n = ::read(static_cast<int>(channel->first.get()), &byte, 1);
    if (n < 0 && errno == EINTR) break;
  }
  EXPECT_EQ(n, -1);
  EXPECT_EQ(errno, EINTR);
  EXPECT_GT(storm.delivered(), 0);
}

TEST(SignalStormTest, CountsOnlyItsOwnSignals) {
  {
    SignalStorm first(/*period_us=*/100);
    absl::SleepFor(absl::Milliseconds(20));
  }
  SignalStorm second(/*period_us=*/1000000);
  EXPECT_LE(second.delivered(), 1);
}

TEST(HasUnwaitedChildrenTest, SeesRunningAndExitedChildrenUntilReaped) {
  ASSERT_FALSE(HasUnwaitedChildren());
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(0);
  EXPECT_TRUE(HasUnwaitedChildren());  // running or a zombie
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_TRUE(HasUnwaitedChildren());  // a zombie now: still there
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_FALSE(HasUnwaitedChildren());
}

}  // namespace
}  // namespace mp::test_util
