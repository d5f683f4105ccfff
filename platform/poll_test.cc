#include "multiprocessing/platform/poll.h"

#include <thread>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/test_util.h"

namespace mp::platform {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(PollTest, ZeroAndNegativeTimeoutsReturnAtOnce) {
  ChannelPair p = CreateDuplexChannel().value();
  NativeHandle h = p.first.get();
  for (absl::Duration t : {absl::ZeroDuration(), absl::Seconds(-5)}) {
    absl::Time start = absl::Now();
    EXPECT_THAT(WaitReadable({&h, 1}, t).value(), IsEmpty());
    EXPECT_LT(absl::Now() - start, absl::Milliseconds(50));
  }
}

TEST(PollTest, TimeoutWaitsAboutThatLong) {
  ChannelPair p = CreateDuplexChannel().value();
  NativeHandle h = p.first.get();
  absl::Time start = absl::Now();
  EXPECT_THAT(WaitReadable({&h, 1}, absl::Milliseconds(200)).value(),
              IsEmpty());
  absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(200));
  EXPECT_LT(took, absl::Seconds(2));
}

TEST(PollTest, DataAndEndOfStreamAreReadable) {
  ChannelPair a = CreateDuplexChannel().value();
  ChannelPair b = CreateDuplexChannel().value();
  ChannelPair c = CreateDuplexChannel().value();
  ASSERT_TRUE(WriteAll(a.second.get(), {{"x", 1}}).ok());
  c.second.reset();  // end of stream on c.first
  NativeHandle hs[] = {a.first.get(), b.first.get(), c.first.get()};
  EXPECT_THAT(WaitReadable(hs, absl::ZeroDuration()).value(),
              ElementsAre(0u, 2u));
}

TEST(PollTest, NoTimeoutBlocksUntilReady) {
  ChannelPair p = CreateDuplexChannel().value();
  std::thread t([&] {
    absl::SleepFor(absl::Milliseconds(100));
    WriteAll(p.second.get(), {{"x", 1}}).IgnoreError();
  });
  NativeHandle h = p.first.get();
  EXPECT_THAT(WaitReadable({&h, 1}, std::nullopt).value(), ElementsAre(0u));
  t.join();
}

#if !defined(_WIN32)  // no signals on Windows
TEST(PollTest, SignalsDoNotCutTheWaitShort) {
  ChannelPair p = CreateDuplexChannel().value();
  NativeHandle h = p.first.get();
  mp::test_util::SignalStorm storm(200);
  absl::Time start = absl::Now();
  EXPECT_THAT(WaitReadable({&h, 1}, absl::Milliseconds(300)).value(),
              IsEmpty());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_GT(storm.delivered(), 0);
}
#endif

TEST(PollTest, ClosedHandleIsAnError) {
  ChannelPair p = CreateDuplexChannel().value();
  NativeHandle h = p.first.get();
  p.first.reset();
  EXPECT_FALSE(WaitReadable({&h, 1}, absl::ZeroDuration()).ok());
}

// 300 channels and the reading ends of them, to wait on.
struct ManyChannels {
  ManyChannels() {
    for (int i = 0; i < 300; ++i) {
      pairs.push_back(CreateDuplexChannel().value());
      ends.push_back(pairs.back().first.get());
    }
  }
  std::vector<ChannelPair> pairs;
  std::vector<NativeHandle> ends;
};

TEST(PollTest, HundredsOfHandles) {
  ManyChannels many;
  std::vector<ChannelPair>& pairs = many.pairs;
  std::vector<NativeHandle>& hs = many.ends;
  ASSERT_TRUE(WriteAll(pairs[257].second.get(), {{"x", 1}}).ok());
  EXPECT_THAT(WaitReadable(hs, absl::Seconds(5)).value(), ElementsAre(257u));
}

// Past 64 handles (WaitForMultipleObjects' limit on Windows), a wait that
// starts with nothing ready still wakes for the one that becomes ready.
TEST(PollTest, HundredsOfHandlesWakeWhenOneBecomesReady) {
  ManyChannels many;
  std::vector<ChannelPair>& pairs = many.pairs;
  std::vector<NativeHandle>& hs = many.ends;
  std::thread writer([&] {
    absl::SleepFor(absl::Milliseconds(100));
    ASSERT_TRUE(WriteAll(pairs[281].second.get(), {{"x", 1}}).ok());
  });
  const absl::Time start = absl::Now();
  EXPECT_THAT(WaitReadable(hs, absl::Seconds(10)).value(), ElementsAre(281u));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  writer.join();
}

}  // namespace
}  // namespace mp::platform
