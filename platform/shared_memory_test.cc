#include "platform/shared_memory.h"

#include <atomic>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "platform/launch.h"

namespace mp::platform {
namespace {

TEST(SharedMemoryTest, AForkedChildWritesWhatTheParentReads) {
  ScopedHandle memory = CreateSharedMemory(8192).value();
  SharedMapping m = MapSharedMemory(memory.get(), 8192).value();
  auto* word = static_cast<std::atomic<uint32_t>*>(m.data());
  EXPECT_EQ(word->load(), 0u);  // zeroed
  ChildProcess child = ForkAndRun({memory.get()}, [&] {
                         word->store(42);
                         WakeWord(word);
                         return 0;
                       }).value();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (word->load() != 42 && WaitOnWord(word, 0, deadline)) {
  }
  EXPECT_EQ(word->load(), 42u);
  EXPECT_EQ(WaitForExit(child, std::nullopt).value(), 0);
}

TEST(SharedMemoryTest, WaitTimesOutAndReturnsAtOnceOnAChangedWord) {
  std::atomic<uint32_t> word{5};
  const absl::Time start = absl::Now();
  EXPECT_FALSE(WaitOnWord(&word, 5, absl::Now() + absl::Milliseconds(50)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_TRUE(WaitOnWord(&word, 4, std::nullopt));  // not 4: returns at once
  std::thread waker([&] {
    absl::SleepFor(absl::Milliseconds(20));
    word.store(6);
    WakeWord(&word);
  });
  while (word.load() == 5) WaitOnWord(&word, 5, std::nullopt);
  waker.join();
  EXPECT_EQ(word.load(), 6u);
}

}  // namespace
}  // namespace mp::platform
