// Shared memory, waits on words and SharedLock across processes, on every
// OS: the other process is this test binary started again with a --child-*
// switch and the memory's handle (ChildMain() below runs that side).
#include "multiprocessing/platform/shared_memory.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
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

namespace mp::platform {
namespace {

struct LockedCounter {
  SharedLock lock;
  uint64_t value;  // plain: only the lock keeps increments whole
};

constexpr int kIncrements = 20000;

void AddUnderLock(LockedCounter* shared) {
  for (int i = 0; i < kIncrements; ++i) {
    SharedLockHolder hold(&shared->lock);
    shared->value = shared->value + 1;
  }
}

// Starts this binary as `--child-<what>=<handle>`, giving it `memory`.
ChildProcess StartChild(const std::string& what, const ScopedHandle& memory) {
  // The child takes it from us (launch.h): we hold it until the child ends.
  LaunchOptions options;
  options.taken_by_child = {memory.get()};
  return LaunchProgram({ExecutablePath().value(),
                        absl::StrCat("--child-", what, "=", memory.get())},
                       {}, options)
      .value();
}

int ExitCode(const ChildProcess& child) {
  return WaitForExit(child, absl::Seconds(60)).value().value_or(-1000);
}

template <typename T>
struct Shared {
  explicit Shared(std::size_t size = sizeof(T))
      : memory(CreateSharedMemory(size).value()),
        mapping(MapSharedMemory(memory.get(), size).value()) {}
  T* get() const { return static_cast<T*>(mapping.data()); }
  ScopedHandle memory;
  SharedMapping mapping;
};

TEST(SharedMemoryTest, AChildWritesWhatTheParentReads) {
  Shared<std::atomic<uint32_t>> m(8192);
  std::atomic<uint32_t>* word = m.get();
  EXPECT_EQ(word->load(), 0u);  // zeroed
  ChildProcess child = StartChild("store-42", m.memory);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (word->load() != 42 && WaitOnWord(word, 0, deadline)) {
  }
  EXPECT_EQ(word->load(), 42u);
  EXPECT_EQ(ExitCode(child), 0);
}

TEST(SharedMemoryTest, WaitTimesOutAndReturnsAtOnceOnAChangedWord) {
  // In shared memory and in a process's own.
  Shared<std::atomic<uint32_t>> m;
  std::atomic<uint32_t> own{5};
  for (std::atomic<uint32_t>* word : {m.get(), &own}) {
    word->store(5);
    const absl::Time start = absl::Now();
    EXPECT_FALSE(WaitOnWord(word, 5, absl::Now() + absl::Milliseconds(50)));
    EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
    EXPECT_TRUE(WaitOnWord(word, 4, std::nullopt));  // not 4: at once
    std::thread waker([&] {
      absl::SleepFor(absl::Milliseconds(20));
      word->store(6);
      WakeWord(word);
    });
    while (word->load() == 5) WaitOnWord(word, 5, std::nullopt);
    waker.join();
    EXPECT_EQ(word->load(), 6u);
  }
}

TEST(SharedMemoryTest, AWakeReachesEveryWaiterOfEveryProcess) {
  Shared<std::atomic<uint32_t>> m;
  std::atomic<uint32_t>* word = m.get();
  std::vector<ChildProcess> children;
  for (int i = 0; i < 3; ++i) {
    children.push_back(StartChild("wait-for-1", m.memory));
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([word] {
      while (word->load() == 0) WaitOnWord(word, 0, std::nullopt);
    });
  }
  absl::SleepFor(absl::Milliseconds(300));  // all of them asleep by now
  word->store(1);
  WakeWord(word);
  for (std::thread& t : threads) t.join();
  for (const ChildProcess& child : children) EXPECT_EQ(ExitCode(child), 0);
}

// Issue 21: a size that came from another process (a Queue's large item)
// is checked against the object: past its end POSIX would map it and raise
// SIGBUS at the first touch (now kDataLoss); Windows refuses the view.
TEST(SharedMemoryTest, MappingPastTheObjectIsAnError) {
  const std::size_t size = 4096;
  ScopedHandle h = CreateSharedMemory(size).value();
  EXPECT_FALSE(MapSharedMemory(h.get(), size + (1 << 20)).ok());
  absl::StatusOr<SharedMapping> m = MapSharedMemory(h.get(), size);
  ASSERT_TRUE(m.ok()) << m.status();
  static_cast<char*>(m->data())[size - 1] = 1;
}

TEST(SharedMemoryTest, UnmappingReleasesEveryHandle) {
  const int before = CountOpenHandles().value();
  for (int i = 0; i < 3; ++i) {
    Shared<LockedCounter> m;
    ASSERT_TRUE(InitSharedLock(&m.get()->lock).ok());
    { SharedLockHolder hold(&m.get()->lock); }
    auto* word = reinterpret_cast<std::atomic<uint32_t>*>(&m.get()->value);
    WakeWord(word);
    EXPECT_FALSE(WaitOnWord(word, 0, absl::Now()));
  }
  EXPECT_EQ(CountOpenHandles().value(), before);
}

TEST(SharedLockTest, ExcludesAcrossProcesses) {
  Shared<LockedCounter> m;
  ASSERT_TRUE(InitSharedLock(&m.get()->lock).ok());
  ChildProcess child = StartChild("add", m.memory);
  AddUnderLock(m.get());
  EXPECT_EQ(ExitCode(child), 0);
  EXPECT_EQ(m.get()->value, 2u * kIncrements);
}

TEST(SharedLockTest, AHolderThatDiesHandsTheLockOnSayingSo) {
  Shared<LockedCounter> m;
  LockedCounter* shared = m.get();
  ASSERT_TRUE(InitSharedLock(&shared->lock).ok());
  EXPECT_EQ(ExitCode(StartChild("lock-set-7-and-die", m.memory)), 3);
  {
    SharedLockHolder hold(&shared->lock);  // does not hang
    EXPECT_TRUE(hold.owner_died());
    EXPECT_EQ(shared->value, 7u);
  }
  SharedLockHolder again(&shared->lock);
  EXPECT_FALSE(again.owner_died());  // repaired: a normal lock from now on
}

TEST(SharedLockTest, AcquireUntilGivesUpOnAHeldLockAndSeesADeadOne) {
  Shared<LockedCounter> m;
  LockedCounter* shared = m.get();
  ASSERT_TRUE(InitSharedLock(&shared->lock).ok());
  EXPECT_EQ(AcquireSharedLockUntil(&shared->lock, absl::Now()),
            std::optional<bool>(false));  // free: taken at once
  ReleaseSharedLock(&shared->lock);
  ChildProcess child = StartChild("lock-set-7-sleep-and-die", m.memory);
  // The child has the lock once it set the value.
  const absl::Time wait_until = absl::Now() + absl::Seconds(30);
  while (absl::Now() < wait_until) {
    {
      auto got = AcquireSharedLockUntil(&shared->lock, absl::Now());
      if (!got) break;  // held
      ReleaseSharedLock(&shared->lock);
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  const absl::Time start = absl::Now();
  EXPECT_EQ(AcquireSharedLockUntil(&shared->lock,
                                   absl::Now() + absl::Milliseconds(50)),
            std::nullopt);  // held by a live process
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_EQ(
      AcquireSharedLockUntil(&shared->lock, absl::Now() + absl::Seconds(20)),
      std::optional<bool>(true));  // its holder died meanwhile
  ReleaseSharedLock(&shared->lock);
  EXPECT_EQ(ExitCode(child), 0);
}

// What a child started with a --child-* switch does; nullopt: run the tests.
std::optional<int> ChildMain() {
  const std::vector<std::string>& args = ProgramArguments();
  if (args.size() < 2) return std::nullopt;
  const std::vector<std::string> parts = absl::StrSplit(args[1], '=');
  int64_t h = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &h)) return std::nullopt;
  const std::string& what = parts[0];
  absl::StatusOr<ScopedHandle> memory =
      TakeHandleFromParent(ParentProcessId(), h);
  if (!memory.ok()) return 101;
  absl::StatusOr<SharedMapping> m =
      MapSharedMemory(memory->get(), sizeof(LockedCounter));
  if (!m.ok()) return 100;
  auto* word = static_cast<std::atomic<uint32_t>*>(m->data());
  auto* shared = static_cast<LockedCounter*>(m->data());
  if (what == "--child-store-42") {
    word->store(42);
    WakeWord(word);
    return 0;
  }
  if (what == "--child-wait-for-1") {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (word->load() == 0 && WaitOnWord(word, 0, deadline)) {
    }
    return word->load() == 1 ? 0 : 1;
  }
  if (what == "--child-add") {
    AddUnderLock(shared);
    return 0;
  }
  if (what == "--child-lock-set-7-and-die") {
    AcquireSharedLock(&shared->lock);
    shared->value = 7;
    std::_Exit(3);  // dies holding the lock
  }
  if (what == "--child-lock-set-7-sleep-and-die") {
    AcquireSharedLock(&shared->lock);
    shared->value = 7;
    absl::SleepFor(absl::Milliseconds(300));
    std::_Exit(0);  // dies holding it
  }
  return std::nullopt;
}

MP_TEST_CHILD_MAIN(ChildMain);

}  // namespace
}  // namespace mp::platform
