// Windows only: waits that sleep, not poll. A thread that waits two seconds
// for a message that does not come, or on a word nobody changes, should use
// next to no CPU; a Sleep(1) poll (what these waits were) burned 20 to 90 ms
// of it a second under Wine here (about 800 looks a second; on Windows
// fewer, 15.6 ms apart, each a wake-up all the same), which is what is
// measured, with the thread's own CPU time (GetThreadTimes, kernel plus
// user).
#include <windows.h>
// <windows.h> names two functions of message_channel.h as macros.
#undef PeekMessage
#undef SendMessage

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/message_channel.h"
#include "multiprocessing/platform/shared_memory.h"

namespace mp::platform {
namespace {

// The CPU time the calling thread spends running `wait`.
absl::Duration CpuTimeOf(const std::function<void()>& wait) {
  absl::Duration spent;
  std::thread t([&] {
    auto cpu = [] {
      FILETIME created, exited, kernel, user;
      EXPECT_TRUE(GetThreadTimes(GetCurrentThread(), &created, &exited, &kernel,
                                 &user));
      auto ticks = [](FILETIME f) {  // of 100 ns
        return (int64_t{f.dwHighDateTime} << 32) | f.dwLowDateTime;
      };
      return absl::Nanoseconds(100 * (ticks(kernel) + ticks(user)));
    };
    const absl::Duration before = cpu();
    wait();
    spent = cpu() - before;
  });
  t.join();
  return spent;
}

constexpr absl::Duration kWait = absl::Seconds(2);
// The clock of thread times ticks in 10 ms (Wine, from Linux) or 15.6 ms
// (Windows) steps: a sleeping thread shows 0 or one tick.
constexpr absl::Duration kMostCpu = absl::Milliseconds(20);

TEST(WaitTest, ReceivingFromAnEmptyChannelSleeps) {
  ChannelPair c = CreateMessageChannel().value();
  std::string buffer(kMaxInlineMessage, '\0');
  const absl::Duration cpu = CpuTimeOf([&] {
    const absl::Time start = absl::Now();
    auto got = ReceiveMessage(c.first.get(), absl::MakeSpan(buffer),
                              absl::Now() + kWait);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_FALSE(got->has_value());
    EXPECT_GE(absl::Now() - start, kWait);
  });
  std::fprintf(stderr, "CPU of a %s receive: %s\n",
               absl::FormatDuration(kWait).c_str(),
               absl::FormatDuration(cpu).c_str());
  EXPECT_LT(cpu, kMostCpu);
}

TEST(WaitTest, WaitingOnAWordOfOwnMemorySleeps) {
  std::atomic<uint32_t> word{7};
  const absl::Duration cpu = CpuTimeOf([&] {
    const absl::Time start = absl::Now();
    while (absl::Now() - start < kWait) {
      WaitOnWord(&word, 7, start + kWait);
    }
  });
  std::fprintf(stderr, "CPU of a %s wait on a word: %s\n",
               absl::FormatDuration(kWait).c_str(),
               absl::FormatDuration(cpu).c_str());
  EXPECT_LT(cpu, kMostCpu);
}

TEST(WaitTest, WaitingOnAWordOfSharedMemorySleeps) {
  ScopedHandle section = CreateSharedMemory(4096).value();
  SharedMapping m = MapSharedMemory(section.get(), 4096).value();
  auto* word = static_cast<std::atomic<uint32_t>*>(m.data());
  const absl::Duration cpu = CpuTimeOf([&] {
    const absl::Time start = absl::Now();
    while (absl::Now() - start < kWait) {
      WaitOnWord(word, 0, start + kWait);
    }
  });
  EXPECT_LT(cpu, kMostCpu);
}

}  // namespace
}  // namespace mp::platform
