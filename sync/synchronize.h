// Python's multiprocessing.synchronize: Lock, RLock, Semaphore,
// BoundedSemaphore, Condition, Event, Barrier, shared by processes (pass
// them to a Process as arguments, under fork or spawn) and threads.
//
// Each object's state lives in a small shared memory segment; waiting is a
// futex on Linux (a section semaphore on Windows, platform/shared_memory.h).
// Copies of an object (C++ copies, or the ones a child decodes) are the same
// primitive.
//
// Errors (Python exception -> Status):
//   ValueError "released too many times" (Lock/Semaphore)  kInvalidArgument
//   AssertionError/RuntimeError: not owned (RLock release, Condition wait or
//     notify without the lock)                             kFailedPrecondition
//   threading.BrokenBarrierError                 IsBrokenBarrier(s) (kAborted)
//
// The bad day, better than Python: a process that dies (killed, crashed or
// exited) while holding a Lock, an RLock or units of a Semaphore does not
// block the others for ever. Waiters look, at growing intervals (5 ms to
// 200 ms), whether the holder still runs; the next acquirer gets the lock
// (or the units come back) and Acquire returns IsOwnerDied(s) (kDataLoss)
// WITH THE LOCK HELD: what the lock guards may be half-changed by the dead
// holder, so repair or discard it, then Release as usual. lock() and
// try_lock() (for std::lock_guard / std::scoped_lock, which cannot carry a
// status) abort the process in that case rather than let it go unnoticed:
// use Acquire where a holder may die. A Condition or Barrier waiter that
// dies does not wedge the rest (see each class).
//
// Default-constructed objects are not primitives (valid() is false) but are
// safe to use: each method returning a Status fails with kFailedPrecondition
// ("mp::Lock: default-constructed, not a lock; make one with
// mp::Lock::Create()"); the others return a neutral value (IsMine(),
// IsLocked(), try_lock(), IsSet(), Event::Wait() false; count(), GetValue(),
// parties(), n_waiting() 0; Barrier::broken() true) or do nothing (lock(),
// unlock(), Set(), Clear(), Reset(), Abort()). So a std::lock_guard on one
// guards nothing: check valid() or use Acquire() where that matters.
#ifndef MULTIPROCESSING_SYNC_SYNCHRONIZE_H_
#define MULTIPROCESSING_SYNC_SYNCHRONIZE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/sync/segment.h"

namespace mp {

// The previous holder of a Lock, RLock or Semaphore died holding it; the
// caller now holds it (kDataLoss).
bool IsOwnerDied(const absl::Status& s);
// threading.BrokenBarrierError (kAborted).
bool IsBrokenBarrier(const absl::Status& s);

// Timeouts are Python's: nullopt waits for ever; zero or negative looks once.
using Timeout = std::optional<absl::Duration>;

namespace sync_internal {

// The owner's process id, and this bit when someone may be waiting.
inline constexpr uint32_t kWaiters = 1u << 31;

struct LockState {
  std::atomic<uint32_t> word;          // owner pid | kWaiters; 0: free
  std::atomic<uint32_t> owner_thread;  // ThreadToken() of the holder
  std::atomic<uint32_t> count;         // RLock recursion level
};

// This thread among this process's threads (never 0).
uint32_t NewThreadToken();
inline uint32_t ThreadToken() {
  thread_local uint32_t token = 0;  // constant-initialised: no guard
  if (token == 0) token = NewThreadToken();
  return token;
}
uint32_t ThisProcess();

// What Lock and RLock share: a word holding the owner's process id, the
// owning thread, and (RLock) the recursion count.
class LockBase {
 public:
  // acquire(block=True, timeout=None): whether the lock was got.
  // IsOwnerDied: got, from a holder that died (see the top of the file).
  [[nodiscard]] absl::StatusOr<bool> Acquire(bool block = true,
                                             Timeout timeout = std::nullopt) {
    // The uncontended Lock inline: one compare-and-swap.
    if (!recursive_ && state_ != nullptr) {
      uint32_t free = 0;
      if (state_->word.compare_exchange_strong(free, ThisProcess(),
                                               std::memory_order_acquire)) {
        state_->owner_thread.store(ThreadToken(), std::memory_order_relaxed);
        return true;
      }
    }
    return AcquireSlow(block, timeout);
  }
  // Whether the calling thread holds it (SemLock._is_mine()).
  bool IsMine() const;
  // Whether any thread of any process holds it.
  bool IsLocked() const;

  // std::lock_guard / std::scoped_lock. Abort on a dead holder (see top).
  void lock();
  bool try_lock();
  void unlock();

  bool valid() const { return segment_ != nullptr; }

  // For Condition: releases every level the calling thread holds, returning
  // how many; and takes them back.
  [[nodiscard]] absl::StatusOr<uint32_t> ReleaseAll();
  absl::Status AcquireRestore(uint32_t levels);

 protected:
  LockBase() = default;
  explicit LockBase(std::shared_ptr<Segment> segment);
  [[nodiscard]] static absl::StatusOr<std::shared_ptr<Segment>> NewSegment(
      uint32_t kind);
  [[nodiscard]] absl::StatusOr<bool> AcquireSlow(bool block, Timeout timeout);
  [[nodiscard]] absl::Status ReleaseRecursive();
  absl::Status ReleaseLock() {
    if (state_ == nullptr) return NotCreated();
    state_->owner_thread.store(0, std::memory_order_relaxed);
    const uint32_t was = state_->word.exchange(0, std::memory_order_release);
    if ((was & ~kWaiters) == 0) return ReleasedTooManyTimes();
    if (was & kWaiters) WakeOne();
    return absl::OkStatus();
  }
  [[nodiscard]] static absl::Status ReleasedTooManyTimes();
  // What a default-constructed Lock's or RLock's methods return.
  [[nodiscard]] absl::Status NotCreated() const;
  void WakeOne();
  LockState* state() const { return state_; }

  std::shared_ptr<Segment> segment_;
  LockState* state_ = nullptr;
  bool recursive_ = false;
};

}  // namespace sync_internal

// multiprocessing.Lock(): not re-entrant; any thread or process may release
// it (as in Python).
class BoundedSemaphore;

class Lock : public sync_internal::LockBase {
 public:
  static constexpr uint32_t kKind = 1;
  [[nodiscard]] static absl::StatusOr<Lock> Create();
  // Not a lock (see the top of this file): Create one.
  Lock() = default;

  // release(). Not held: kInvalidArgument ("released too many times").
  [[nodiscard]] absl::Status Release() { return ReleaseLock(); }

 private:
  friend struct Codec<Lock>;
  using LockBase::LockBase;
};

// multiprocessing.RLock(): re-entrant; only the owning thread releases.
class RLock : public sync_internal::LockBase {
 public:
  static constexpr uint32_t kKind = 2;
  [[nodiscard]] static absl::StatusOr<RLock> Create();
  // Not a lock (see the top of this file): Create one.
  RLock() { recursive_ = true; }

  // release(). Not held by this thread: kFailedPrecondition.
  [[nodiscard]] absl::Status Release() { return ReleaseRecursive(); }
  // The recursion level (0 when this thread does not hold it).
  uint32_t count() const;

 private:
  friend struct Codec<RLock>;
  using LockBase::LockBase;
};

// multiprocessing.Semaphore(value) and BoundedSemaphore(value).
//
// Holder tracking (on by default): each process's units are counted in the
// semaphore, and the units of a process that ended without releasing them
// come back (the next acquirer is told: IsOwnerDied). That is right for a
// semaphore that guards resources (acquire, use, release in one process).
// A semaphore used as a counter of events (one process releases, another
// acquires and never releases) must be made with track_holders = false, or
// an ended consumer's acquisitions would come back. At most 60 processes are
// tracked at once; others are not (their units leak if they die, as in
// Python). A process killed in the two instructions between taking a unit
// and recording it leaks that unit; it never gains one.
class Semaphore {
 public:
  static constexpr uint32_t kKind = 3;
  // Semaphore(value): value < 0 is kInvalidArgument.
  [[nodiscard]] static absl::StatusOr<Semaphore> Create(
      int value = 1, bool track_holders = true);
  // Not a semaphore (see the top of this file): Create one.
  Semaphore() = default;

  [[nodiscard]] absl::StatusOr<bool> Acquire(bool block = true,
                                             Timeout timeout = std::nullopt);
  // release(). BoundedSemaphore past its value: kInvalidArgument.
  [[nodiscard]] absl::Status Release();
  // get_value().
  int GetValue() const;

  void lock();
  bool try_lock();
  void unlock();
  bool valid() const { return segment_ != nullptr; }

 protected:
  [[nodiscard]] static absl::StatusOr<Semaphore> Make(int value, int max_value,
                                                      bool track_holders);
  explicit Semaphore(std::shared_ptr<sync_internal::Segment> s)
      : segment_(std::move(s)) {}
  friend struct Codec<Semaphore>;
  friend class BoundedSemaphore;
  friend struct Codec<BoundedSemaphore>;

  struct State;
  State* state() const;
  int Reclaim();
  std::atomic<uint32_t>* MySlotUnits(bool claim);
  // What a default-constructed one's methods return (Semaphore and
  // BoundedSemaphore share them, so it names both).
  [[nodiscard]] static absl::Status NotCreated();

  std::shared_ptr<sync_internal::Segment> segment_;
};

class BoundedSemaphore : public Semaphore {
 public:
  [[nodiscard]] static absl::StatusOr<BoundedSemaphore> Create(
      int value = 1, bool track_holders = true);
  // Not a semaphore (see the top of this file): Create one.
  BoundedSemaphore() = default;

 private:
  friend struct Codec<BoundedSemaphore>;
  explicit BoundedSemaphore(Semaphore s) : Semaphore(std::move(s)) {}
};

// multiprocessing.Condition(lock=None): over an RLock (new by default) or a
// Lock.
//
// Notify(n) wakes at most n of the threads waiting at the time (a thread
// that starts waiting after the notify, before a woken one runs, may take
// its place; all that matters to a wait_for loop). Unlike CPython's,
// Notify does not wait for the woken to answer, so a waiter that died does
// not wedge the notifier; a notification handed to a waiter that died goes
// to another waiter, or makes a later Wait return at once (a spurious
// wake-up, which WaitFor absorbs).
class Condition {
 public:
  static constexpr uint32_t kKind = 4;
  [[nodiscard]] static absl::StatusOr<Condition> Create();
  static absl::StatusOr<Condition> Create(const Lock& lock);
  [[nodiscard]] static absl::StatusOr<Condition> Create(const RLock& lock);
  // Not a condition (see the top of this file): Create one.
  Condition() = default;

  [[nodiscard]] absl::StatusOr<bool> Acquire(bool block = true,
                                             Timeout timeout = std::nullopt) {
    if (lock_ == nullptr) return NotCreated();
    return lock_->Acquire(block, timeout);
  }
  [[nodiscard]] absl::Status Release();
  void lock() {
    if (lock_ != nullptr) lock_->lock();
  }
  bool try_lock() { return lock_ != nullptr && lock_->try_lock(); }
  void unlock() {
    if (lock_ != nullptr) lock_->unlock();
  }

  // wait(timeout): releases the lock, waits for a Notify, takes the lock
  // back. False when the timeout passed. Lock not held: kFailedPrecondition.
  // IsOwnerDied: the lock, taken back, had a holder that died.
  [[nodiscard]] absl::StatusOr<bool> Wait(Timeout timeout = std::nullopt);
  // wait_for(predicate, timeout): the predicate's last value.
  template <typename Predicate>
  [[nodiscard]] absl::StatusOr<bool> WaitFor(Predicate predicate,
                                             Timeout timeout = std::nullopt);
  // notify(n=1), notify_all(). Lock not held: kFailedPrecondition.
  [[nodiscard]] absl::Status Notify(int n = 1);
  absl::Status NotifyAll();

  bool valid() const { return segment_ != nullptr; }

 private:
  friend struct Codec<Condition>;
  struct State;
  State* state() const;
  [[nodiscard]] static absl::Status NotCreated();
  [[nodiscard]] static absl::StatusOr<Condition> Make(
      std::shared_ptr<sync_internal::LockBase> lock, bool recursive);

  std::shared_ptr<sync_internal::LockBase> lock_;
  bool recursive_ = true;
  std::shared_ptr<sync_internal::Segment> segment_;
};

// multiprocessing.Event(). A waiter that dies leaves nothing behind.
class Event {
 public:
  static constexpr uint32_t kKind = 5;
  [[nodiscard]] static absl::StatusOr<Event> Create();
  // Not an event (see the top of this file): Create one.
  Event() = default;

  bool IsSet() const;
  void Set();
  void Clear();
  // wait(timeout): whether the flag is set (false: the timeout passed).
  bool Wait(Timeout timeout = std::nullopt);

  bool valid() const { return segment_ != nullptr; }

 private:
  friend struct Codec<Event>;
  struct State;
  State* state() const;
  explicit Event(std::shared_ptr<sync_internal::Segment> s)
      : segment_(std::move(s)) {}
  std::shared_ptr<sync_internal::Segment> segment_;
};

// multiprocessing.Barrier(parties, action=None, timeout=None), with
// threading.Barrier's semantics. The action runs in the last thread to
// arrive, before the others are released; it is this process's (a child
// that decodes the Barrier has none until it calls set_action). A waiter
// that dies in Wait breaks the barrier (the others get IsBrokenBarrier, as
// when one times out) instead of leaving them waiting for ever; Reset makes
// it usable again. A party that dies before it arrives is caught by the
// timeout, as in Python.
class Barrier {
 public:
  static constexpr uint32_t kKind = 6;
  // parties < 1: kInvalidArgument.
  [[nodiscard]] static absl::StatusOr<Barrier> Create(
      int parties, std::function<void()> action = nullptr,
      Timeout timeout = std::nullopt);
  // Not a barrier (see the top of this file): Create one.
  Barrier() = default;

  // wait(timeout): the arrival index, 0 .. parties-1 (nullopt timeout: the
  // Barrier's). Broken, timed out or aborted: IsBrokenBarrier.
  [[nodiscard]] absl::StatusOr<int> Wait(Timeout timeout = std::nullopt);
  void Reset();
  void Abort();
  int parties() const;
  int n_waiting() const;
  bool broken() const;
  void set_action(std::function<void()> action) { action_ = std::move(action); }

  bool valid() const { return segment_ != nullptr; }

 private:
  friend struct Codec<Barrier>;
  struct State;
  State* state() const;
  // Holds the barrier's lock; a holder that died breaks the barrier.
  void LockState();
  void UnlockState();
  // Waits for a change of the state while the lock is released; removes
  // dead waiters (breaking the barrier). False at `deadline`.
  bool WaitForChange(std::optional<absl::Time> deadline);
  void Broadcast();
  void RemoveDeadWaiters();

  std::shared_ptr<sync_internal::Segment> segment_;
  std::function<void()> action_;
};

template <typename Predicate>
[[nodiscard]] absl::StatusOr<bool> Condition::WaitFor(Predicate predicate,
                                                      Timeout timeout) {
  bool result = predicate();
  if (result) return true;
  std::optional<absl::Time> deadline;
  if (timeout) deadline = absl::Now() + *timeout;
  while (!result) {
    Timeout left;
    if (deadline) {
      left = *deadline - absl::Now();
      if (*left <= absl::ZeroDuration()) break;
    }
    absl::StatusOr<bool> waited = Wait(left);
    if (!waited.ok()) return waited;
    result = predicate();
  }
  return result;
}

// As Process arguments.
template <>
struct Codec<Lock> {
  static void Encode(const Lock& v, Encoder& e);
  [[nodiscard]] static absl::Status Decode(Decoder& d, Lock* out);
};
template <>
struct Codec<RLock> {
  static void Encode(const RLock& v, Encoder& e);
  [[nodiscard]] static absl::Status Decode(Decoder& d, RLock* out);
};
template <>
struct Codec<Semaphore> {
  static void Encode(const Semaphore& v, Encoder& e);
  [[nodiscard]] static absl::Status Decode(Decoder& d, Semaphore* out);
};
template <>
struct Codec<BoundedSemaphore> {
  static void Encode(const BoundedSemaphore& v, Encoder& e);
  [[nodiscard]] static absl::Status Decode(Decoder& d, BoundedSemaphore* out);
};
template <>
struct Codec<Condition> {
  static void Encode(const Condition& v, Encoder& e);
  [[nodiscard]] static absl::Status Decode(Decoder& d, Condition* out);
};
template <>
struct Codec<Event> {
  static void Encode(const Event& v, Encoder& e);
  [[nodiscard]] static absl::Status Decode(Decoder& d, Event* out);
};
template <>
struct Codec<Barrier> {
  static void Encode(const Barrier& v, Encoder& e);
  [[nodiscard]] static absl::Status Decode(Decoder& d, Barrier* out);
};

}  // namespace mp

#endif  // MULTIPROCESSING_SYNC_SYNCHRONIZE_H_
