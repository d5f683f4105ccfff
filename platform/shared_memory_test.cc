#include "platform/shared_memory.h"

#include <unistd.h>

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

struct LockedCounter {
  SharedLock lock;
  uint64_t value;  // plain: only the lock keeps increments whole
};

TEST(SharedLockTest, ExcludesAcrossProcesses) {
  ScopedHandle memory = CreateSharedMemory(sizeof(LockedCounter)).value();
  SharedMapping m =
      MapSharedMemory(memory.get(), sizeof(LockedCounter)).value();
  auto* shared = static_cast<LockedCounter*>(m.data());
  ASSERT_TRUE(InitSharedLock(&shared->lock).ok());
  constexpr int kIncrements = 200000;
  auto add = [shared] {
    for (int i = 0; i < kIncrements; ++i) {
      SharedLockHolder hold(&shared->lock);
      EXPECT_FALSE(hold.owner_died());
      shared->value = shared->value + 1;
    }
  };
  ChildProcess child = ForkAndRun({}, [&] {
                         add();
                         return 0;
                       }).value();
  add();
  EXPECT_EQ(WaitForExit(child, std::nullopt).value(), 0);
  EXPECT_EQ(shared->value, 2u * kIncrements);
}

TEST(SharedLockTest, AHolderThatDiesHandsTheLockOnSayingSo) {
  ScopedHandle memory = CreateSharedMemory(sizeof(LockedCounter)).value();
  SharedMapping m =
      MapSharedMemory(memory.get(), sizeof(LockedCounter)).value();
  auto* shared = static_cast<LockedCounter*>(m.data());
  ASSERT_TRUE(InitSharedLock(&shared->lock).ok());
  ChildProcess child = ForkAndRun({}, [&] {
                         AcquireSharedLock(&shared->lock);
                         shared->value = 7;
                         _exit(3);  // dies holding the lock
                         return 0;
                       }).value();
  EXPECT_EQ(WaitForExit(child, std::nullopt).value(), 3);
  {
    SharedLockHolder hold(&shared->lock);  // does not hang
    EXPECT_TRUE(hold.owner_died());
    EXPECT_EQ(shared->value, 7u);
  }
  SharedLockHolder again(&shared->lock);
  EXPECT_FALSE(again.owner_died());  // repaired: a normal lock from now on
}

TEST(SharedLockTest, AcquireUntilGivesUpOnAHeldLockAndSeesADeadOne) {
  ScopedHandle memory = CreateSharedMemory(sizeof(LockedCounter)).value();
  SharedMapping m =
      MapSharedMemory(memory.get(), sizeof(LockedCounter)).value();
  auto* shared = static_cast<LockedCounter*>(m.data());
  ASSERT_TRUE(InitSharedLock(&shared->lock).ok());
  EXPECT_EQ(AcquireSharedLockUntil(&shared->lock, absl::Now()),
            std::optional<bool>(false));  // free: taken at once
  ReleaseSharedLock(&shared->lock);
  ChildProcess child = ForkAndRun({}, [&] {
                         AcquireSharedLock(&shared->lock);
                         absl::SleepFor(absl::Milliseconds(300));
                         _exit(0);  // dies holding it
                         return 0;
                       }).value();
  absl::SleepFor(absl::Milliseconds(100));
  const absl::Time start = absl::Now();
  EXPECT_EQ(AcquireSharedLockUntil(&shared->lock,
                                   absl::Now() + absl::Milliseconds(50)),
            std::nullopt);  // held by a live process
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_EQ(
      AcquireSharedLockUntil(&shared->lock, absl::Now() + absl::Seconds(20)),
      std::optional<bool>(true));  // its holder died meanwhile
  ReleaseSharedLock(&shared->lock);
  EXPECT_EQ(WaitForExit(child, std::nullopt).value(), 0);
}

}  // namespace
}  // namespace mp::platform
