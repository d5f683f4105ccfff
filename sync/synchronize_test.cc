// Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event and Barrier
// between processes, under every start method: Python's semantics and
// errors, and the bad day (holders and waiters killed).
#include "multiprocessing/sync/synchronize.h"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/process/process.h"
#include "multiprocessing/process/test_main.h"
#include "multiprocessing/shared_memory/sharedctypes.h"

namespace mp {
namespace {

constexpr int kIncrements = 100000;

// A read-modify-write that a second writer can interleave with (volatile:
// the compiler keeps the load and the store apart), now and then giving up
// the processor in between, so that unguarded writers do interleave even
// on one core.
void SlowIncrement(int64_t* p, int i) {
  volatile int64_t* v = p;
  const int64_t x = *v;
  for (volatile int spin = 0; spin < 3; spin = spin + 1) {
  }
  if (i % 500 == 0) std::this_thread::yield();
  *v = x + 1;
}

// Waits at the gate, then increments the counter kIncrements times, each
// under the lock when `use_lock`.
int Increment(Lock& lock, RawValue<int64_t>& counter, Event& gate,
              bool use_lock) {
  if (!gate.Wait(absl::Seconds(30))) return 2;
  for (int i = 0; i < kIncrements; ++i) {
    if (use_lock) {
      std::lock_guard<Lock> guard(lock);
      SlowIncrement(counter.get(), i);
    } else {
      SlowIncrement(counter.get(), i);
    }
  }
  return 0;
}
MP_REGISTER_TARGET(Increment);

// Holds the lock, says so, and waits to be killed.
int HoldLockForever(Lock& lock, Event& holding) {
  if (!lock.Acquire().ok()) return 1;
  holding.Set();
  for (;;) absl::SleepFor(absl::Seconds(1));
}
MP_REGISTER_TARGET(HoldLockForever);

int HoldRLockForever(RLock& lock, Event& holding) {
  if (!lock.Acquire().ok() || !lock.Acquire().ok()) return 1;  // twice
  holding.Set();
  for (;;) absl::SleepFor(absl::Seconds(1));
}
MP_REGISTER_TARGET(HoldRLockForever);

int HoldSemaphoreForever(Semaphore& sem, Event& holding) {
  if (!sem.Acquire().ok() || !sem.Acquire().ok()) return 1;  // two units
  holding.Set();
  for (;;) absl::SleepFor(absl::Seconds(1));
}
MP_REGISTER_TARGET(HoldSemaphoreForever);

// Tries the lock without blocking and with a timeout: 0 when both fail.
int TryLockHeldElsewhere(Lock& lock) {
  absl::StatusOr<bool> a = lock.Acquire(false);
  absl::StatusOr<bool> b = lock.Acquire(true, absl::Milliseconds(50));
  return a.ok() && !*a && b.ok() && !*b ? 0 : 1;
}
MP_REGISTER_TARGET(TryLockHeldElsewhere);

// Releases a Lock that the parent acquired (Python allows it).
int ReleaseLock(Lock& lock) { return lock.Release().ok() ? 0 : 1; }
MP_REGISTER_TARGET(ReleaseLock);

// An RLock held by the parent: releasing it here fails.
int ReleaseNotOwnedRLock(RLock& lock) {
  return lock.Release().code() == absl::StatusCode::kFailedPrecondition ? 0 : 1;
}
MP_REGISTER_TARGET(ReleaseNotOwnedRLock);

// Acquires a unit, then says so on `got`.
int AcquireUnit(Semaphore& sem, Event& got) {
  absl::StatusOr<bool> r = sem.Acquire(true, absl::Seconds(30));
  if (!r.ok() || !*r) return 1;
  got.Set();
  return 0;
}
MP_REGISTER_TARGET(AcquireUnit);

// Waits on the condition until *ready, counting itself in *woken.
int WaitForReady(Condition& cond, RawValue<int64_t>& ready,
                 RawValue<int64_t>& woken, Event& waiting) {
  std::lock_guard<Condition> guard(cond);
  waiting.Set();
  absl::StatusOr<bool> r =
      cond.WaitFor([&] { return ready.value() != 0; }, absl::Seconds(30));
  if (!r.ok() || !*r) return 1;
  woken.set_value(woken.value() + 1);
  return 0;
}
MP_REGISTER_TARGET(WaitForReady);

// One Wait (no predicate): 0 when notified, 3 on timeout.
int WaitOnce(Condition& cond, RawValue<int64_t>& woken, Semaphore& waiting,
             int64_t timeout_ms) {
  std::lock_guard<Condition> guard(cond);
  if (!waiting.Release().ok()) return 1;
  absl::StatusOr<bool> r = cond.Wait(absl::Milliseconds(timeout_ms));
  if (!r.ok()) return 2;
  if (!*r) return 3;
  woken.set_value(woken.value() + 1);
  return 0;
}
MP_REGISTER_TARGET(WaitOnce);

// Event ping-pong: waits for `ping`, clears it, sets `pong`; n times.
int Pong(Event& ping, Event& pong, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!ping.Wait(absl::Seconds(30))) return 1;
    ping.Clear();
    pong.Set();
  }
  return 0;
}
MP_REGISTER_TARGET(Pong);

int WaitEvent(Event& e) { return e.Wait(absl::Seconds(30)) ? 0 : 1; }
MP_REGISTER_TARGET(WaitEvent);

// Waits at the barrier; records its arrival index in indices[slot].
int WaitAtBarrier(Barrier& barrier, RawArray<int32_t>& indices, int64_t slot) {
  absl::StatusOr<int> index = barrier.Wait(absl::Seconds(30));
  if (!index.ok()) return IsBrokenBarrier(index.status()) ? 3 : 2;
  indices[static_cast<std::size_t>(slot)] = *index;
  return 0;
}
MP_REGISTER_TARGET(WaitAtBarrier);

// Says it is about to wait at the barrier, and waits (to be killed).
int WaitAtBarrierForever(Barrier& barrier, Event& arriving) {
  arriving.Set();
  (void)barrier.Wait();
  return 0;
}
MP_REGISTER_TARGET(WaitAtBarrierForever);

class SyncTest : public ::mp::test_util::EveryStartMethod {
 protected:
  // Starts `target(primitive, holding)` and waits until it says it holds.
  template <typename Target, typename Primitive>
  Process StartHolder(Target target, const Primitive& primitive) {
    Event holding = Event::Create().value();
    Process p = Make(target, primitive, holding);
    EXPECT_TRUE(p.Start().ok());
    EXPECT_TRUE(holding.Wait(absl::Seconds(30)));
    return p;
  }
};

// Runs `workers` Increment processes on one counter; its final value.
int64_t CountWith(test_util::EveryStartMethod* t, int workers, bool use_lock) {
  Lock lock = Lock::Create().value();
  RawValue<int64_t> counter = RawValue<int64_t>::Create(0).value();
  Event gate = Event::Create().value();
  std::vector<Process> processes;
  (void)t;
  for (int i = 0; i < workers; ++i) {
    processes.push_back(GetContext(t->GetParam())
                            .value()
                            .Process(Increment, lock, counter, gate, use_lock));
  }
  for (Process& p : processes) EXPECT_TRUE(p.Start().ok());
  gate.Set();
  for (Process& p : processes) {
    EXPECT_TRUE(p.Join().ok());
    EXPECT_EQ(p.exitcode(), 0);
  }
  return counter.value();
}

TEST_P(SyncTest, FourProcessesIncrementUnderTheLockExactly) {
  EXPECT_EQ(CountWith(this, 4, true), 4 * kIncrements);
}

// The same workload without the lock loses updates: the test above would
// catch a lock that does not exclude.
TEST_P(SyncTest, WithoutTheLockUpdatesAreLost) {
  int64_t least = 4 * kIncrements;
  for (int attempt = 0; attempt < 5 && least == 4 * kIncrements; ++attempt) {
    least = std::min(least, CountWith(this, 4, false));
  }
  EXPECT_LT(least, 4 * kIncrements);
}

TEST_P(SyncTest, LockAcquireReleaseAndErrors) {
  Lock lock = Lock::Create().value();
  EXPECT_FALSE(lock.IsLocked());
  EXPECT_EQ(lock.Release().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(lock.Acquire().value());
  EXPECT_TRUE(lock.IsMine());
  EXPECT_FALSE(lock.Acquire(false).value());  // not re-entrant
  EXPECT_FALSE(lock.Acquire(true, absl::Milliseconds(20)).value());
  EXPECT_FALSE(lock.try_lock());
  // Another process cannot have it, and may release it (as in Python).
  Process p = Make(TryLockHeldElsewhere, lock);
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
  Process r = Make(ReleaseLock, lock);
  ASSERT_TRUE(r.Start().ok());
  ASSERT_TRUE(r.Join().ok());
  EXPECT_EQ(r.exitcode(), 0);
  EXPECT_FALSE(lock.IsLocked());
  {
    std::scoped_lock guard(lock);
    EXPECT_TRUE(lock.IsLocked());
  }
  EXPECT_FALSE(lock.IsLocked());
}

TEST_P(SyncTest, RLockIsReentrantAndOwned) {
  RLock lock = RLock::Create().value();
  EXPECT_EQ(lock.Release().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(lock.Acquire().value());
  EXPECT_TRUE(lock.Acquire(false).value());
  EXPECT_EQ(lock.count(), 2u);
  // Another thread and another process: neither may have it nor release it.
  std::thread([&] {
    EXPECT_FALSE(lock.Acquire(false).value());
    EXPECT_EQ(lock.Release().code(), absl::StatusCode::kFailedPrecondition);
  }).join();
  Process p = Make(ReleaseNotOwnedRLock, lock);
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_TRUE(lock.Release().ok());
  EXPECT_TRUE(lock.IsMine());
  EXPECT_TRUE(lock.Release().ok());
  EXPECT_FALSE(lock.IsLocked());
  std::scoped_lock guard(lock, lock);  // re-entrant through scoped_lock too
  EXPECT_EQ(lock.count(), 2u);
}

// The bad day: the holder is killed; the next acquirer (already waiting,
// or coming later, the dead holder unreaped) gets the lock and is told.
TEST_P(SyncTest, LockOfAKilledHolderGoesToTheNextAcquirerWhoIsTold) {
  Lock lock = Lock::Create().value();
  Process p = StartHolder(HoldLockForever, lock);
  std::thread killer([&] {
    absl::SleepFor(absl::Milliseconds(100));
    EXPECT_TRUE(p.Kill().ok());
  });
  const absl::Time start = absl::Now();
  absl::StatusOr<bool> got = lock.Acquire(true, absl::Seconds(30));
  killer.join();
  EXPECT_TRUE(IsOwnerDied(got.status())) << got.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(lock.IsMine());  // held, despite the error
  EXPECT_TRUE(lock.Release().ok());
  EXPECT_TRUE(lock.Acquire().value());  // told once
  EXPECT_TRUE(lock.Release().ok());
  ASSERT_TRUE(p.Join().ok());
}

TEST_P(SyncTest, LockOfAnUnreapedDeadHolderIsTakenWithoutBlocking) {
  Lock lock = Lock::Create().value();
  Process p = StartHolder(HoldLockForever, lock);
  ASSERT_TRUE(p.Kill().ok());
  absl::StatusOr<bool> got;
  for (int i = 0; i < 1000; ++i) {  // until the kill has landed
    got = lock.Acquire(false);
    if (!got.ok() || *got) break;
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_TRUE(IsOwnerDied(got.status())) << got.status();
  EXPECT_TRUE(lock.Release().ok());
  ASSERT_TRUE(p.Join().ok());
}

TEST_P(SyncTest, RLockOfAKilledHolderIsTold) {
  RLock lock = RLock::Create().value();
  Process p = StartHolder(HoldRLockForever, lock);
  ASSERT_TRUE(p.Kill().ok());
  absl::StatusOr<bool> got = lock.Acquire(true, absl::Seconds(30));
  EXPECT_TRUE(IsOwnerDied(got.status())) << got.status();
  EXPECT_EQ(lock.count(), 1u);  // the dead holder's levels are gone
  EXPECT_TRUE(lock.Release().ok());
  EXPECT_FALSE(lock.IsLocked());
  ASSERT_TRUE(p.Join().ok());
}

using SyncDeathTest = SyncTest;

TEST_P(SyncDeathTest, LockGuardOnAKilledHoldersLockAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Lock lock = Lock::Create().value();
  Process p = StartHolder(HoldLockForever, lock);
  ASSERT_TRUE(p.Kill().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_DEATH({ std::lock_guard<Lock> guard(lock); }, "holder died");
}

TEST_P(SyncTest, SemaphoreCountsAndBlocks) {
  EXPECT_EQ(Semaphore::Create(-1).status().code(),
            absl::StatusCode::kInvalidArgument);
  Semaphore sem = Semaphore::Create(2).value();
  EXPECT_EQ(sem.GetValue(), 2);
  EXPECT_TRUE(sem.Acquire().value());
  EXPECT_TRUE(sem.Acquire().value());
  EXPECT_FALSE(sem.Acquire(false).value());
  EXPECT_FALSE(sem.Acquire(true, absl::Milliseconds(20)).value());
  EXPECT_EQ(sem.GetValue(), 0);
  Event got = Event::Create().value();
  Process p = Make(AcquireUnit, sem, got);
  ASSERT_TRUE(p.Start().ok());
  EXPECT_FALSE(got.Wait(absl::Milliseconds(100)));  // blocked
  EXPECT_TRUE(sem.Release().ok());
  EXPECT_TRUE(got.Wait(absl::Seconds(30)));
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(sem.GetValue(), 0);
  // An unbounded semaphore goes past its initial value.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(sem.Release().ok());
  EXPECT_EQ(sem.GetValue(), 5);
}

TEST_P(SyncTest, BoundedSemaphoreRefusesReleasePastItsValue) {
  EXPECT_EQ(BoundedSemaphore::Create(0).status().code(),
            absl::StatusCode::kInvalidArgument);
  BoundedSemaphore sem = BoundedSemaphore::Create(2).value();
  EXPECT_EQ(sem.Release().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(sem.Acquire().value());
  EXPECT_TRUE(sem.Release().ok());
  EXPECT_EQ(sem.Release().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sem.GetValue(), 2);
}

TEST_P(SyncTest, SemaphoreUnitsOfAKilledHolderComeBackAndTheAcquirerIsTold) {
  Semaphore sem = Semaphore::Create(3).value();
  Process p = StartHolder(HoldSemaphoreForever, sem);
  EXPECT_TRUE(sem.Acquire().value());  // the third unit
  std::thread killer([&] {
    absl::SleepFor(absl::Milliseconds(100));
    EXPECT_TRUE(p.Kill().ok());
  });
  absl::StatusOr<bool> got = sem.Acquire(true, absl::Seconds(30));
  killer.join();
  EXPECT_TRUE(IsOwnerDied(got.status())) << got.status();
  EXPECT_EQ(sem.GetValue(), 1);  // two came back, we took one
  EXPECT_TRUE(sem.Acquire(false).value());
  ASSERT_TRUE(p.Join().ok());
}

TEST_P(SyncTest, UntrackedSemaphoreKeepsWhatAnEndedConsumerTook) {
  Semaphore sem = Semaphore::Create(1, /*track_holders=*/false).value();
  Event got = Event::Create().value();
  Process p = Make(AcquireUnit, sem, got);
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_FALSE(sem.Acquire(true, absl::Milliseconds(300)).value());
}

TEST_P(SyncTest, ConditionWaitNeedsTheLock) {
  Condition cond = Condition::Create().value();
  EXPECT_EQ(cond.Wait(absl::Milliseconds(1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(cond.Notify().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(cond.NotifyAll().code(), absl::StatusCode::kFailedPrecondition);
  std::lock_guard<Condition> guard(cond);
  EXPECT_FALSE(cond.Wait(absl::Milliseconds(20)).value());  // timeout
  EXPECT_TRUE(cond.Notify().ok());  // nobody waits: fine
  EXPECT_FALSE(
      cond.WaitFor([] { return false; }, absl::Milliseconds(20)).value());
  EXPECT_TRUE(cond.WaitFor([] { return true; }).value());
}

TEST_P(SyncTest, ConditionOverALockAndAnRLockReleasesEveryLevel) {
  RLock rlock = RLock::Create().value();
  Condition cond = Condition::Create(rlock).value();
  ASSERT_TRUE(rlock.Acquire().value());
  ASSERT_TRUE(rlock.Acquire().value());
  std::atomic<bool> other_got{false};
  std::thread other([&] {
    std::lock_guard<Condition> g(cond);  // possible only if Wait let go
    other_got = true;
    EXPECT_TRUE(cond.Notify().ok());
  });
  EXPECT_TRUE(cond.Wait(absl::Seconds(30)).value());
  other.join();
  EXPECT_TRUE(other_got);
  EXPECT_EQ(rlock.count(), 2u);  // both levels back
  EXPECT_TRUE(rlock.Release().ok());
  EXPECT_TRUE(rlock.Release().ok());

  Lock lock = Lock::Create().value();
  Condition plain = Condition::Create(lock).value();
  std::lock_guard<Condition> g(plain);
  EXPECT_FALSE(plain.Wait(absl::Milliseconds(10)).value());
  EXPECT_TRUE(lock.IsMine());
}

TEST_P(SyncTest, ConditionNotifyAllWakesEveryProcess) {
  Condition cond = Condition::Create().value();
  RawValue<int64_t> ready = RawValue<int64_t>::Create(0).value();
  RawValue<int64_t> woken = RawValue<int64_t>::Create(0).value();
  std::vector<Process> processes;
  std::vector<Event> waiting;
  for (int i = 0; i < 3; ++i) {
    waiting.push_back(Event::Create().value());
    processes.push_back(Make(WaitForReady, cond, ready, woken, waiting.back()));
  }
  for (Process& p : processes) ASSERT_TRUE(p.Start().ok());
  for (Event& e : waiting) ASSERT_TRUE(e.Wait(absl::Seconds(30)));
  {
    std::lock_guard<Condition> guard(cond);
    ready.set_value(1);
    EXPECT_TRUE(cond.NotifyAll().ok());
  }
  for (Process& p : processes) {
    ASSERT_TRUE(p.Join().ok());
    EXPECT_EQ(p.exitcode(), 0);
  }
  EXPECT_EQ(woken.value(), 3);
}

// notify(1) wakes one of three; a waiter killed while waiting does not
// keep the others from their notifications.
TEST_P(SyncTest, ConditionNotifyOneWakesOneAndADeadWaiterDoesNotWedge) {
  Condition cond = Condition::Create().value();
  RawValue<int64_t> woken = RawValue<int64_t>::Create(0).value();
  Semaphore waiting = Semaphore::Create(0, false).value();
  std::vector<Process> processes;
  for (int i = 0; i < 3; ++i) {
    processes.push_back(Make(WaitOnce, cond, woken, waiting, int64_t{30000}));
  }
  for (Process& p : processes) ASSERT_TRUE(p.Start().ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(waiting.Acquire(true, absl::Seconds(30)).value());
  }
  // All three are in Wait (they counted themselves before letting go of
  // the lock, which we now take).
  {
    std::lock_guard<Condition> guard(cond);
    EXPECT_TRUE(cond.Notify(1).ok());
  }
  absl::SleepFor(absl::Milliseconds(300));
  {
    std::lock_guard<Condition> guard(cond);
    EXPECT_EQ(woken.value(), 1);
  }
  // Kill one of the two still waiting (whichever: kill all that still run
  // but one).
  int killed = -1;
  for (int i = 0; i < 3 && killed < 0; ++i) {
    if (processes[i].IsAlive()) {
      ASSERT_TRUE(processes[i].Kill().ok());
      killed = i;
    }
  }
  ASSERT_GE(killed, 0);
  ASSERT_TRUE(processes[killed].Join().ok());
  {
    std::lock_guard<Condition> guard(cond);
    EXPECT_TRUE(cond.Notify(2).ok());
  }
  for (int i = 0; i < 3; ++i) {
    if (i == killed) continue;
    ASSERT_TRUE(processes[i].Join(absl::Seconds(30)).ok());
    EXPECT_EQ(processes[i].exitcode(), 0);
  }
  EXPECT_EQ(woken.value(), 2);
}

TEST_P(SyncTest, EventSetClearWaitAcrossProcesses) {
  Event e = Event::Create().value();
  EXPECT_FALSE(e.IsSet());
  EXPECT_FALSE(e.Wait(absl::Milliseconds(20)));
  EXPECT_FALSE(e.Wait(absl::ZeroDuration()));
  Process p = Make(WaitEvent, e);
  ASSERT_TRUE(p.Start().ok());
  absl::SleepFor(absl::Milliseconds(50));
  e.Set();
  EXPECT_TRUE(e.IsSet());
  EXPECT_TRUE(e.Wait());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
  e.Clear();
  EXPECT_FALSE(e.IsSet());

  Event ping = Event::Create().value(), pong = Event::Create().value();
  Process q = Make(Pong, ping, pong, int64_t{1000});
  ASSERT_TRUE(q.Start().ok());
  for (int i = 0; i < 1000; ++i) {
    ping.Set();
    ASSERT_TRUE(pong.Wait(absl::Seconds(30)));
    pong.Clear();
  }
  ASSERT_TRUE(q.Join().ok());
  EXPECT_EQ(q.exitcode(), 0);
}

TEST_P(SyncTest, BarrierReleasesAllPartiesWithDistinctIndicesAndRunsTheAction) {
  EXPECT_EQ(Barrier::Create(0).status().code(),
            absl::StatusCode::kInvalidArgument);
  int actions = 0;
  Barrier barrier = Barrier::Create(4, [&] { ++actions; }).value();
  EXPECT_EQ(barrier.parties(), 4);
  EXPECT_EQ(barrier.n_waiting(), 0);
  EXPECT_FALSE(barrier.broken());
  RawArray<int32_t> indices = RawArray<int32_t>::Create(4).value();
  for (int round = 0; round < 3; ++round) {
    std::vector<Process> processes;
    for (int64_t i = 0; i < 3; ++i) {
      processes.push_back(Make(WaitAtBarrier, barrier, indices, i));
    }
    for (Process& p : processes) ASSERT_TRUE(p.Start().ok());
    absl::StatusOr<int> mine = barrier.Wait(absl::Seconds(30));
    ASSERT_TRUE(mine.ok()) << mine.status();
    indices[3] = *mine;
    for (Process& p : processes) {
      ASSERT_TRUE(p.Join().ok());
      EXPECT_EQ(p.exitcode(), 0);
    }
    std::vector<int32_t> seen(indices.span().begin(), indices.span().end());
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, (std::vector<int32_t>{0, 1, 2, 3}));
  }
  // The action ran once per round, in whichever process came last.
  EXPECT_LE(actions, 3);
}

TEST_P(SyncTest, BarrierTimeoutAbortAndReset) {
  Barrier barrier = Barrier::Create(2, nullptr, absl::Milliseconds(50)).value();
  absl::StatusOr<int> r = barrier.Wait();  // the barrier's own timeout
  EXPECT_TRUE(IsBrokenBarrier(r.status())) << r.status();
  EXPECT_TRUE(barrier.broken());
  EXPECT_TRUE(IsBrokenBarrier(barrier.Wait().status()));
  barrier.Reset();
  EXPECT_FALSE(barrier.broken());
  barrier.Abort();
  EXPECT_TRUE(barrier.broken());
  EXPECT_TRUE(IsBrokenBarrier(barrier.Wait(absl::Seconds(5)).status()));
  barrier.Reset();
  // A waiter broken by Abort from another thread.
  std::thread aborter([&] {
    absl::SleepFor(absl::Milliseconds(50));
    barrier.Abort();
  });
  EXPECT_TRUE(IsBrokenBarrier(barrier.Wait(absl::Seconds(30)).status()));
  aborter.join();
  barrier.Reset();
  EXPECT_EQ(barrier.n_waiting(), 0);
}

// The bad day: a party dies waiting; the others are released (broken), not
// left waiting for ever (no timeout here).
TEST_P(SyncTest, BarrierWithADyingPartyBreaksInsteadOfWedging) {
  Barrier barrier = Barrier::Create(3).value();
  Event arriving = Event::Create().value();
  Process p = Make(WaitAtBarrierForever, barrier, arriving);
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(arriving.Wait(absl::Seconds(30)));
  for (int i = 0; i < 1000 && barrier.n_waiting() < 1; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(barrier.n_waiting(), 1);
  std::thread killer([&] {
    absl::SleepFor(absl::Milliseconds(100));
    EXPECT_TRUE(p.Kill().ok());
  });
  const absl::Time start = absl::Now();
  absl::StatusOr<int> r = barrier.Wait();
  killer.join();
  EXPECT_TRUE(IsBrokenBarrier(r.status())) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ASSERT_TRUE(p.Join().ok());
  // Reset makes it whole: two threads and a late third get through.
  barrier.Reset();
  std::thread a([&] { EXPECT_TRUE(barrier.Wait(absl::Seconds(30)).ok()); });
  std::thread b([&] { EXPECT_TRUE(barrier.Wait(absl::Seconds(30)).ok()); });
  EXPECT_TRUE(barrier.Wait(absl::Seconds(30)).ok());
  a.join();
  b.join();
}

// Objects made and dropped leave no descriptor behind (counted after a
// first cycle: what is opened once per process, such as Windows' random
// number provider, is not a leak).
TEST(SyncLeakTest, ThousandCreateDestroyCyclesLeaveNoDescriptor) {
  auto cycle = [] {
    Lock l = Lock::Create().value();
    RLock r = RLock::Create().value();
    Condition c = Condition::Create().value();
    Barrier b = Barrier::Create(2).value();
    Event e = Event::Create().value();
    BoundedSemaphore s = BoundedSemaphore::Create(2).value();
    Value<int64_t> v = Value<int64_t>::Create(1).value();
    Array<double> a = Array<double>::Create(10).value();
    EXPECT_TRUE(l.Acquire().value());
    EXPECT_TRUE(l.Release().ok());
    EXPECT_EQ(b.n_waiting(), 0);  // uses the barrier's lock
  };
  cycle();
  const int before = platform::CountOpenHandles().value();
  for (int i = 0; i < 1000; ++i) cycle();
  EXPECT_EQ(platform::CountOpenHandles().value(), before);
}

MP_INSTANTIATE_FOR_EVERY_START_METHOD(SyncTest);
MP_INSTANTIATE_FOR_EVERY_START_METHOD(SyncDeathTest);

}  // namespace
}  // namespace mp
