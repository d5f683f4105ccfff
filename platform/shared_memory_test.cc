// Shared memory, waits on words and SharedLock across processes, on every
// OS: the other process is this test binary started again with a --child-*
// switch and the memory's handle (ChildMain() below runs that side).
#include "multiprocessing/platform/shared_memory.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
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

// Two words of one section, each with its two players (see PlayPingPong).
struct TwoWords {
  std::atomic<uint32_t> a;
  std::atomic<uint32_t> b;
};

constexpr uint32_t kRounds = 5000;

// One player of a ping-pong on `word`: player p waits until the word's
// parity is p, then counts it on and wakes the other player, kRounds times.
// Every step needs the other player's wake-up, so a lost one leaves both
// asleep: each wait has a deadline, and missing it fails (false).
bool PlayPingPong(std::atomic<uint32_t>* word, uint32_t player) {
  for (uint32_t i = 0; i < kRounds; ++i) {
    uint32_t v;
    while ((v = word->load()) % 2 != player) {
      if (!WaitOnWord(word, v, absl::Now() + absl::Seconds(5))) {
        std::fprintf(stderr, "ping-pong: player %u stuck at %u\n", player, v);
        return false;
      }
    }
    word->store(v + 1);
    WakeWord(word);
  }
  return true;
}

// Issue 22: Windows woke the waiters of a section through one semaphore
// topped up to their count, so a waiter that came after a wake-up, or one
// already asleep on another word, could take the token meant for a waiter
// that had checked its word but not yet gone to sleep, which then slept on
// (JoinableQueue::Join, with no deadline, forever). Here word b is played
// by a thread and another process, every step needing a wake-up, while
// threads of both processes wait on word a of the same section again and
// again (timed waits nobody ends: they take tokens, and give no wake-up
// that would rescue a sleeper). A lost wake-up is a wait past its deadline.
TEST(SharedMemoryTest, WakeUpsOfTwoWordsOfOneSectionAreNeverLost) {
  Shared<TwoWords> m(4096);
  TwoWords* words = m.get();
  ChildProcess child = StartChild("ping-pong-b", m.memory);
  std::atomic<bool> stop{false};
  std::vector<std::thread> noise;
  for (int i = 0; i < 3; ++i) {
    noise.emplace_back([&] {
      while (!stop.load()) {
        WaitOnWord(&words->a, 0, absl::Now() + absl::Milliseconds(1));
      }
    });
  }
  EXPECT_TRUE(PlayPingPong(&words->b, 0));
  EXPECT_EQ(ExitCode(child), 0);  // its last move made
  stop = true;
  for (std::thread& t : noise) t.join();
  EXPECT_EQ(words->b.load(), 2 * kRounds);
}

// The same with both words played, each by two threads, and word a waited
// on by the child too: wake-ups of either word reach their player.
TEST(SharedMemoryTest, TwoWordsPlayedAtOnceBothFinish) {
  Shared<TwoWords> m(4096);
  TwoWords* words = m.get();
  ChildProcess child = StartChild("ping-pong-b", m.memory);
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  threads.emplace_back([&] { failed += !PlayPingPong(&words->a, 0); });
  threads.emplace_back([&] { failed += !PlayPingPong(&words->a, 1); });
  threads.emplace_back([&] { failed += !PlayPingPong(&words->b, 0); });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(ExitCode(child), 0);  // its last move made
  EXPECT_EQ(words->a.load(), 2 * kRounds);
  EXPECT_EQ(words->b.load(), 2 * kRounds);
}

// A word in the process's own memory (no section): a wake-up ends the wait
// when it comes, not at a poll's next look (Windows: Sleep(1) was 15.6 ms
// there). Measured as the time from the store to the waiter's return.
TEST(SharedMemoryTest, AWakeOfAWordInOwnMemoryArrivesPromptly) {
  constexpr int kTrials = 40;
  std::vector<absl::Duration> latencies;
  for (int i = 0; i < kTrials; ++i) {
    std::atomic<uint32_t> word{0};
    std::atomic<int64_t> woke_ns{0};
    std::thread waiter([&] {
      while (word.load() == 0) {
        ASSERT_TRUE(WaitOnWord(&word, 0, absl::Now() + absl::Seconds(10)));
      }
      woke_ns = absl::GetCurrentTimeNanos();
    });
    absl::SleepFor(absl::Milliseconds(5));  // asleep by now
    const int64_t stored_ns = absl::GetCurrentTimeNanos();
    word.store(1);
    WakeWord(&word);
    waiter.join();
    latencies.push_back(absl::Nanoseconds(woke_ns.load() - stored_ns));
  }
  std::sort(latencies.begin(), latencies.end());
  const absl::Duration median = latencies[kTrials / 2];
  std::fprintf(stderr, "own-memory wake-up latency: median %s, max %s\n",
               absl::FormatDuration(median).c_str(),
               absl::FormatDuration(latencies.back()).c_str());
  // Windows: a Sleep(1) poll puts the median near 8 ms (a 15.6 ms tick);
  // Wine on a busy machine has given medians of 0.3 to 2.3 ms.
  // Under Wine, whose Sleep(1) is 1 ms, a poll's wait is told by the CPU it
  // burns instead (wait_win_test).
  EXPECT_LT(median, absl::Milliseconds(5));
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
  if (what == "--child-ping-pong-b") {
    absl::StatusOr<SharedMapping> two =
        MapSharedMemory(memory->get(), sizeof(TwoWords));
    if (!two.ok()) return 101;
    // Noise on word a from this process too, while it plays b.
    auto* words = static_cast<TwoWords*>(two->data());
    std::atomic<bool> stop{false};
    std::thread noise([&] {
      while (!stop.load()) {
        WaitOnWord(&words->a, words->a.load(),
                   absl::Now() + absl::Milliseconds(1));
      }
    });
    const bool played = PlayPingPong(&words->b, 1);
    stop = true;
    noise.join();
    return played ? 0 : 1;
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
