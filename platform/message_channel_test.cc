// Message channels on every OS; the other process of the cross-process
// cases is this test binary started again with a --child-* switch (ChildMain()
// below runs that side).
#include "multiprocessing/platform/message_channel.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/child_main.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/platform/shared_memory.h"

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
  EXPECT_EQ(
      SendMessage(c.second.get(), {{d.data(), d.size() + 0}, {"!", 1}}).code(),
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
    absl::StatusOr<bool> s =
        TrySendMessage(c.second.get(), {{big.data(), big.size()}});
    ASSERT_TRUE(s.ok()) << s.status();
    if (!*s) break;
    ASSERT_LT(sent, 100000) << "TrySendMessage never found the channel full";
  }
  EXPECT_GT(sent, 1);
  // Peeking copies what fits, takes nothing, and leaks no handle.
  const int handles = CountOpenHandles().value();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(PeekMessage(c.first.get(), absl::MakeSpan(buffer, 3)).value(),
              std::optional<std::size_t>(3));
    EXPECT_EQ(std::string(buffer, 3), "fir");
  }
  EXPECT_EQ(CountOpenHandles().value(), handles);
  EXPECT_EQ(Receive(c.first.get()), "first");
  EXPECT_EQ(Receive(c.first.get()), big);
  EXPECT_TRUE(TrySendMessage(c.second.get(), {{"x", 1}}).value());  // room
}

// A receiver asleep on an empty channel wakes when a message is written, not
// at a poll's next look (Windows: Sleep(1) loops were 15.6 ms there).
// Measured from just before the send to the receiver's return, with and
// without a deadline.
TEST(MessageChannelTest, AReceiverWakesPromptlyWhenAMessageArrives) {
  ChannelPair c = CreateMessageChannel().value();
  constexpr int kTrials = 40;
  std::vector<absl::Duration> latencies;
  for (int i = 0; i < kTrials; ++i) {
    std::atomic<int64_t> received_ns{0};
    std::thread receiver([&] {
      std::string buffer(kMaxInlineMessage, '\0');
      std::optional<absl::Time> deadline;
      if (i % 2 == 1) deadline = absl::Now() + absl::Seconds(10);
      auto got =
          ReceiveMessage(c.first.get(), absl::MakeSpan(buffer), deadline);
      received_ns = absl::GetCurrentTimeNanos();
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_TRUE(got->has_value());
      EXPECT_EQ(std::string(buffer.data(), (*got)->size), "ping");
    });
    absl::SleepFor(absl::Milliseconds(5));  // asleep by now
    const int64_t sent_ns = absl::GetCurrentTimeNanos();
    ASSERT_TRUE(SendMessage(c.second.get(), {{"ping", 4}}).ok());
    receiver.join();
    latencies.push_back(absl::Nanoseconds(received_ns.load() - sent_ns));
  }
  std::sort(latencies.begin(), latencies.end());
  const absl::Duration median = latencies[kTrials / 2];
  std::fprintf(stderr, "message wake-up latency: median %s, max %s\n",
               absl::FormatDuration(median).c_str(),
               absl::FormatDuration(latencies.back()).c_str());
  // Windows: a Sleep(1) poll puts the median near 8 ms (a 15.6 ms tick);
  // Wine on a busy machine has given medians of 0.3 to 2.3 ms.
  // Under Wine, whose Sleep(1) is 1 ms, a poll's wait is told by the CPU it
  // burns instead (wait_win_test).
  EXPECT_LT(median, absl::Milliseconds(5));
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

// Starts this binary as `--child-<what>=<writer>,<go>` to send to `c` and
// then (send-then-wait) to wait until `go` is readable.
ChildProcess StartSender(const std::string& what, const ChannelPair& c,
                         NativeHandle go = kInvalidHandle) {
  // The child takes them from us (launch.h): we hold them until it ends.
  LaunchOptions options;
  options.taken_by_child = {c.second.get()};
  if (go != kInvalidHandle) options.taken_by_child.push_back(go);
  return LaunchProgram(
             {ExecutablePath().value(),
              absl::StrCat("--child-", what, "=", c.second.get(), ",", go)},
             {}, options)
      .value();
}

// The memory of a message sent by a child holds "from child".
std::string ReadAttached(const ReceivedMessage& m) {
  if (!m.attached.is_valid()) return "(no handle)";
  absl::StatusOr<SharedMapping> mapping = MapSharedMemory(m.attached.get(), 10);
  if (!mapping.ok()) return mapping.status().ToString();
  return std::string(static_cast<const char*>(mapping->data()), 10);
}

TEST(MessageChannelTest, AHandleCrossesProcessesWhileItsSenderLives) {
  ChannelPair c = CreateMessageChannel().value();
  ChannelPair go = CreateOneWayChannel().value();
  ChildProcess child = StartSender("send-then-wait", c, go.first.get());
  std::string buffer(kMaxInlineMessage, '\0');
  auto got = ReceiveMessage(c.first.get(), absl::MakeSpan(buffer),
                            absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(buffer.substr(0, (*got)->size), "m");
  EXPECT_FALSE((*got)->attachment_lost);
  EXPECT_EQ(ReadAttached(**got), "from child");
  // The child lives until here: on Windows the handle was in it until taken.
  ASSERT_TRUE(WriteAll(go.second.get(), {{"go", 2}}).ok());
  EXPECT_EQ(WaitForExit(child, absl::Seconds(30)).value(),
            std::optional<int>(0));
}

TEST(MessageChannelTest, AHandleWhoseSenderExitedIsLostOnlyWhereSaid) {
  ChannelPair c = CreateMessageChannel().value();
  ChildProcess child = StartSender("send-then-exit", c);
  ASSERT_EQ(WaitForExit(child, absl::Seconds(30)).value(),
            std::optional<int>(0));
  std::string buffer(kMaxInlineMessage, '\0');
  auto got = ReceiveMessage(c.first.get(), absl::MakeSpan(buffer),
                            absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(buffer.substr(0, (*got)->size), "m");
  if (AttachmentsOutliveSender()) {
    EXPECT_FALSE((*got)->attachment_lost);
    EXPECT_EQ(ReadAttached(**got), "from child");
  } else {
    EXPECT_TRUE((*got)->attachment_lost);
    EXPECT_FALSE((*got)->attached.is_valid());
  }
}

// What a child started with a --child-* switch does; nullopt: run the tests.
std::optional<int> ChildMain() {
  const std::vector<std::string>& args = ProgramArguments();
  if (args.size() < 2) return std::nullopt;
  const std::vector<std::string> parts = absl::StrSplit(args[1], '=');
  if (parts.size() != 2) return std::nullopt;
  const std::vector<std::string> handles = absl::StrSplit(parts[1], ',');
  int64_t writer = 0, go = 0;
  if (handles.size() != 2 || !absl::SimpleAtoi(handles[0], &writer) ||
      !absl::SimpleAtoi(handles[1], &go)) {
    return std::nullopt;
  }
  absl::StatusOr<ScopedHandle> taken_writer =
      TakeHandleFromParent(ParentProcessId(), writer);
  if (!taken_writer.ok()) return 14;
  writer = taken_writer->get();
  absl::StatusOr<ScopedHandle> taken_go;
  if (go != kInvalidHandle) {
    taken_go = TakeHandleFromParent(ParentProcessId(), go);
    if (!taken_go.ok()) return 15;
    go = taken_go->get();
  }
  absl::StatusOr<ScopedHandle> memory = CreateSharedMemory(10);
  if (!memory.ok()) return 10;
  {
    absl::StatusOr<SharedMapping> m = MapSharedMemory(memory->get(), 10);
    if (!m.ok()) return 11;
    std::memcpy(m->data(), "from child", 10);
  }
  if (!SendMessage(writer, {{"m", 1}}, memory->get()).ok()) return 12;
  memory->reset();  // the message's copy is all that is left
  if (parts[0] == "--child-send-then-exit") return 0;
  if (parts[0] == "--child-send-then-wait") {
    char byte;
    return ReadSome(go, &byte, 1).ok() ? 0 : 13;
  }
  return std::nullopt;
}

MP_TEST_CHILD_MAIN(ChildMain);

}  // namespace
}  // namespace mp::platform
