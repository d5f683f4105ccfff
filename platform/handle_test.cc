#include "multiprocessing/platform/handle.h"

#include <utility>

#include "gtest/gtest.h"
#include "multiprocessing/platform/channel.h"

namespace mp::platform {
namespace {

TEST(ScopedHandleTest, ClosesOnDestructionAndMoves) {
  // What a thread sets up once for channels (on Windows, an event for its
  // overlapped I/O) is made before counting.
  CreateDuplexChannel().value();
  const int before = CountOpenHandles().value();
  ASSERT_GT(before, 0);
  {
    ChannelPair p = CreateDuplexChannel().value();
    EXPECT_EQ(CountOpenHandles().value(), before + 2);
    ScopedHandle moved = std::move(p.first);
    EXPECT_FALSE(p.first.is_valid());
    EXPECT_TRUE(moved.is_valid());
    ScopedHandle assigned;
    assigned = std::move(moved);
    EXPECT_EQ(CountOpenHandles().value(), before + 2);
  }
  EXPECT_EQ(CountOpenHandles().value(), before);
}

TEST(ScopedHandleTest, CloseTwiceIsAnError) {
  ChannelPair p = CreateDuplexChannel().value();
  EXPECT_TRUE(p.first.Close().ok());
  EXPECT_EQ(p.first.Close().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ScopedHandleTest, ReleaseGivesUpOwnership) {
  ChannelPair p = CreateDuplexChannel().value();
  NativeHandle raw;
  {
    ScopedHandle owner = std::move(p.first);
    raw = owner.release();
    EXPECT_FALSE(owner.is_valid());
  }  // destroying the released owner does not close the handle
  const char c = 'x';
  ASSERT_TRUE(WriteAll(raw, {{&c, 1}}).ok());
  char got = 0;
  EXPECT_EQ(ReadFull(p.second.get(), &got, 1).value(), 1u);
  EXPECT_EQ(got, 'x');
  EXPECT_TRUE(ScopedHandle(raw).Close().ok());  // still open until now
}

TEST(ScopedHandleTest, DuplicateIsAnIndependentHandle) {
  ChannelPair p = CreateDuplexChannel().value();
  ScopedHandle dup = Duplicate(p.first.get()).value();
  EXPECT_NE(dup.get(), p.first.get());
  p.first.reset();
  const char c = 'x';
  ASSERT_TRUE(WriteAll(p.second.get(), {{&c, 1}}).ok());
  char got = 0;
  EXPECT_EQ(ReadFull(dup.get(), &got, 1).value(), 1u);
  EXPECT_EQ(got, 'x');
}

}  // namespace
}  // namespace mp::platform
