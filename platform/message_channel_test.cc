#include "platform/message_channel.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "platform/launch.h"
#include "platform/shared_memory.h"

namespace mp::platform {
namespace {

std::string Receive(NativeHandle h) {
  std::string buffer(kMaxInlineMessage, '\0');
  auto got = ReceiveMessage(h, absl::MakeSpan(buffer), std::nullopt);
  EXPECT_TRUE(got.ok()) << got.status();
  if (!got.ok() || !got->has_value()) return "?";
  buffer.resize((*got)->size);
  return buffer;
}

TEST(MessageChannelTest, MessagesKeepTheirBoundariesEmptyOnesToo) {
  ChannelPair c = CreateMessageChannel().value();
  const std::string a = "abc", b = "", d(kMaxInlineMessage, 'x');
  ASSERT_TRUE(SendMessage(c.second.get(), {{a.data(), a.size()}}).ok());
  ASSERT_TRUE(SendMessage(c.second.get(), {{b.data(), 0}}).ok());
  ASSERT_TRUE(SendMessage(c.second.get(), {{"12", 2}, {"34", 2}}).ok());
  ASSERT_TRUE(SendMessage(c.second.get(), {{d.data(), d.size()}}).ok());
  EXPECT_EQ(Receive(c.first.get()), "abc");
  EXPECT_EQ(Receive(c.first.get()), "");
  EXPECT_EQ(Receive(c.first.get()), "1234");
  EXPECT_EQ(Receive(c.first.get()), d);
  EXPECT_EQ(SendMessage(c.second.get(), {{d.data(), d.size() + 0}, {"!", 1}})
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MessageChannelTest, DeadlineAndAttachedHandle) {
  ChannelPair c = CreateMessageChannel().value();
  std::string buffer(kMaxInlineMessage, '\0');
  const absl::Time start = absl::Now();
  auto none = ReceiveMessage(c.first.get(), absl::MakeSpan(buffer),
                             absl::Now() + absl::Milliseconds(50));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));

  ScopedHandle memory = CreateSharedMemory(4096).value();
  {
    SharedMapping m = MapSharedMemory(memory.get(), 4096).value();
    static_cast<char*>(m.data())[0] = 'Q';
  }
  ASSERT_TRUE(SendMessage(c.second.get(), {{"m", 1}}, memory.get()).ok());
  auto got = ReceiveMessage(c.first.get(), absl::MakeSpan(buffer),
                            absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(got.ok() && got->has_value());
  ASSERT_TRUE((*got)->attached.is_valid());
  EXPECT_NE((*got)->attached.get(), memory.get());  // a new descriptor
  SharedMapping m = MapSharedMemory((*got)->attached.get(), 4096).value();
  EXPECT_EQ(static_cast<char*>(m.data())[0], 'Q');
}

TEST(MessageChannelTest, TrySendStopsWhenFullAndPeekLeavesTheMessage) {
  ChannelPair c = CreateMessageChannel().value();
  char buffer[8];
  EXPECT_EQ(PeekMessage(c.first.get(), absl::MakeSpan(buffer)).value(),
            std::nullopt);
  ScopedHandle memory = CreateSharedMemory(4096).value();
  ASSERT_TRUE(SendMessage(c.second.get(), {{"first", 5}}, memory.get()).ok());
  int sent = 1;
  const std::string big(4096, 'b');
  for (;; ++sent) {
    absl::StatusOr<bool> s = TrySendMessage(c.second.get(),
                                            {{big.data(), big.size()}});
    ASSERT_TRUE(s.ok()) << s.status();
    if (!*s) break;
    ASSERT_LT(sent, 100000) << "TrySendMessage never found the channel full";
  }
  EXPECT_GT(sent, 1);
  // Peeking copies what fits, takes nothing, and leaks no descriptor.
  const ScopedHandle probe(::dup(0));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(PeekMessage(c.first.get(), absl::MakeSpan(buffer, 3)).value(),
              std::optional<std::size_t>(3));
    EXPECT_EQ(std::string(buffer, 3), "fir");
  }
  const ScopedHandle probe_after(::dup(0));
  EXPECT_EQ(probe_after.get(), probe.get() + 1);
  EXPECT_EQ(Receive(c.first.get()), "first");
  EXPECT_EQ(Receive(c.first.get()), big);
  EXPECT_TRUE(TrySendMessage(c.second.get(), {{"x", 1}}).value());  // room
}

TEST(MessageChannelTest, ManyWritersManyReadersEachMessageOnce) {
  ChannelPair c = CreateMessageChannel().value();
  constexpr int kWriters = 3, kPerWriter = 2000, kReaders = 3;
  std::vector<std::thread> threads;
  std::vector<std::vector<int>> seen(kReaders);
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      std::string buffer(kMaxInlineMessage, '\0');
      for (;;) {
        auto got = ReceiveMessage(c.first.get(), absl::MakeSpan(buffer),
                                  absl::Now() + absl::Milliseconds(500));
        if (!got.ok() || !got->has_value()) return;
        int v;
        std::memcpy(&v, buffer.data(), sizeof v);
        seen[r].push_back(v);
      }
    });
  }
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        const int v = w * kPerWriter + i;
        ASSERT_TRUE(SendMessage(c.second.get(), {{&v, sizeof v}}).ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<int> all;
  for (const auto& s : seen) all.insert(all.end(), s.begin(), s.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kWriters * kPerWriter));
  for (int i = 0; i < kWriters * kPerWriter; ++i) ASSERT_EQ(all[i], i);
}

}  // namespace
}  // namespace mp::platform
