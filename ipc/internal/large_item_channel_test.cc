#include "multiprocessing/ipc/internal/large_item_channel.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/message_channel.h"

namespace mp::ipc_internal {
namespace {

LargeItemChannel MakeChannel() {
  platform::ChannelPair p = platform::CreateMessageChannel().value();
  return LargeItemChannel(std::move(p.first), std::move(p.second));
}

std::string Bytes(std::size_t n, char c) { return std::string(n, c); }

TEST(LargeItemChannelTest, StoreAndLoadAnItem) {
  const std::string item = Bytes(kMaxRingItem + 1, 'x');
  LargeItem stored = StoreLargeItem(item).value();
  EXPECT_EQ(stored.size, item.size());
  EXPECT_EQ(LoadLargeItem(stored).value(), item);
}

TEST(LargeItemChannelTest, TakesTheItemOfItsTicket) {
  LargeItemChannel channel = MakeChannel();
  for (uint64_t ticket = 0; ticket < 3; ++ticket) {
    LargeItem item =
        StoreLargeItem(Bytes(100 + ticket, static_cast<char>('a' + ticket)))
            .value();
    ASSERT_TRUE(channel.TrySend(ticket, item).value());
  }
  EXPECT_TRUE(channel.Holds(0));
  // Ticket 0's producer "died" before recording it: taking ticket 1 drops it.
  std::optional<LargeItem> one = channel.Take(1).value();
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(LoadLargeItem(*one).value(), Bytes(101, 'b'));
  EXPECT_FALSE(channel.Holds(1));
  EXPECT_TRUE(channel.Holds(2));
  // A ticket older than the oldest message: its item is gone.
  EXPECT_FALSE(channel.Take(0).value().has_value());
  std::optional<LargeItem> two = channel.Take(2).value();
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(LoadLargeItem(*two).value(), Bytes(102, 'c'));
  // Nothing left.
  EXPECT_FALSE(channel.Take(3).value().has_value());
  EXPECT_FALSE(channel.Holds(100));
}

TEST(LargeItemChannelTest, HandlesAreTheChannelsEnds) {
  platform::ChannelPair p = platform::CreateMessageChannel().value();
  const platform::NativeHandle reader = p.first.get();
  const platform::NativeHandle writer = p.second.get();
  LargeItemChannel channel(std::move(p.first), std::move(p.second));
  EXPECT_EQ(channel.reader(), reader);
  EXPECT_EQ(channel.writer(), writer);
}

}  // namespace
}  // namespace mp::ipc_internal
