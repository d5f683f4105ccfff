#include "multiprocessing/sync/synchronize.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/platform/liveness.h"
#include "multiprocessing/platform/shared_memory.h"

namespace mp {

namespace {

constexpr char kOwnerDiedPrefix[] = "owner died: ";
constexpr char kBrokenPrefix[] = "BrokenBarrierError";

absl::Status OwnerDiedError(const char* what, uint32_t pid) {
  return absl::DataLossError(absl::StrCat(
      kOwnerDiedPrefix, what, ": process ", pid,
      " died holding it; it is now held by the caller, and what it guards may "
      "be half-changed"));
}

absl::Status BrokenBarrierError() {
  return absl::AbortedError(
      absl::StrCat(kBrokenPrefix, ": the barrier is broken"));
}

// The waiting slice after which a waiter looks whether holders still run:
// grows from 5 ms to 200 ms.
constexpr absl::Duration kFirstSlice = absl::Milliseconds(5);
constexpr absl::Duration kLastSlice = absl::Milliseconds(200);

std::optional<absl::Time> DeadlineOf(Timeout timeout) {
  if (!timeout) return std::nullopt;
  return absl::Now() + std::max(*timeout, absl::ZeroDuration());
}

// The end of the next slice: the earlier of the deadline and now + slice.
absl::Time SliceEnd(std::optional<absl::Time> deadline, absl::Duration slice) {
  const absl::Time end = absl::Now() + slice;
  return deadline ? std::min(*deadline, end) : end;
}

// What a default-constructed object's Status-returning methods return.
absl::Status NotCreatedError(absl::string_view type, absl::string_view what,
                             absl::string_view how) {
  return absl::FailedPreconditionError(absl::StrCat(
      type, ": default-constructed, not ", what, "; make one with ", how));
}

uint32_t Me() { return static_cast<uint32_t>(platform::CurrentProcessId()); }

[[noreturn]] void DieOnOwnerDied(const absl::Status& s) {
  std::fprintf(stderr,
               "mp: lock()/try_lock() on a lock whose holder died: %s\n"
               "mp: use Acquire() where a holder may die\n",
               std::string(s.message()).c_str());
  std::abort();
}

template <typename T>
T* StateOf(const std::shared_ptr<sync_internal::Segment>& s) {
  return static_cast<T*>(s->data());
}

}  // namespace

bool IsOwnerDied(const absl::Status& s) {
  return s.code() == absl::StatusCode::kDataLoss &&
         absl::StartsWith(s.message(), kOwnerDiedPrefix);
}

bool IsBrokenBarrier(const absl::Status& s) {
  return s.code() == absl::StatusCode::kAborted &&
         absl::StartsWith(s.message(), kBrokenPrefix);
}

// ---------------------------------------------------------------- Lock, RLock

namespace sync_internal {

uint32_t NewThreadToken() {
  static std::atomic<uint32_t> next{1};
  return next.fetch_add(1);
}

uint32_t ThisProcess() { return Me(); }

enum class Got { kNo, kYes, kFromDead };

// Takes the lock word. kFromDead: its holder had died (*dead: its pid).
Got TakeWord(std::atomic<uint32_t>* word, bool block,
             std::optional<absl::Time> deadline, uint32_t* dead) {
  const uint32_t me = Me();
  uint32_t v = 0;
  if (word->compare_exchange_strong(v, me, std::memory_order_acquire)) {
    return Got::kYes;
  }
  absl::Duration slice = kFirstSlice;
  bool look = !block;  // whether to look at the holder's life now
  for (;;) {
    v = word->load(std::memory_order_relaxed);
    if (v == 0) {
      // Others may still sleep: keep the bit, so our release wakes them.
      if (word->compare_exchange_weak(v, me | kWaiters,
                                      std::memory_order_acquire)) {
        return Got::kYes;
      }
      continue;
    }
    const uint32_t owner = v & ~kWaiters;
    if (look && owner != me && !platform::ProcessIsAlive(owner)) {
      if (word->compare_exchange_strong(v, me | (v & kWaiters),
                                        std::memory_order_acquire)) {
        *dead = owner;
        return Got::kFromDead;
      }
      continue;
    }
    look = false;
    if (!block) return Got::kNo;
    if ((v & kWaiters) == 0) {
      if (!word->compare_exchange_weak(v, v | kWaiters,
                                       std::memory_order_relaxed)) {
        continue;
      }
      v |= kWaiters;
    }
    if (deadline && absl::Now() >= *deadline) return Got::kNo;
    if (!platform::WaitOnWord(word, v, SliceEnd(deadline, slice))) {
      look = true;
      slice = std::min(2 * slice, kLastSlice);
    }
  }
}

void ReleaseWord(std::atomic<uint32_t>* word) {
  if (word->exchange(0, std::memory_order_release) & kWaiters) {
    platform::WakeWord(word, 1);
  }
}

LockBase::LockBase(std::shared_ptr<Segment> segment)
    : segment_(std::move(segment)),
      state_(StateOf<LockState>(segment_)),
      recursive_(segment_->kind() == RLock::kKind) {}

absl::Status LockBase::ReleasedTooManyTimes() {
  return absl::InvalidArgumentError(
      "Lock: semaphore or lock released too many times");
}

absl::Status LockBase::NotCreated() const {
  return recursive_
             ? NotCreatedError("mp::RLock", "a lock", "mp::RLock::Create()")
             : NotCreatedError("mp::Lock", "a lock", "mp::Lock::Create()");
}

void LockBase::WakeOne() { platform::WakeWord(&state_->word, 1); }

absl::StatusOr<std::shared_ptr<Segment>> LockBase::NewSegment(uint32_t kind) {
  return Segment::Create(kind, sizeof(LockState));
}

bool LockBase::IsMine() const {
  const LockState* s = state();
  if (s == nullptr) return false;
  return (s->word.load(std::memory_order_relaxed) & ~kWaiters) == Me() &&
         s->owner_thread.load(std::memory_order_relaxed) == ThreadToken();
}

bool LockBase::IsLocked() const {
  return state() != nullptr &&
         state()->word.load(std::memory_order_relaxed) != 0;
}

absl::StatusOr<bool> LockBase::AcquireSlow(bool block, Timeout timeout) {
  LockState* s = state();
  if (s == nullptr) return NotCreated();
  const bool recursive = recursive_;
  if (recursive && IsMine()) {
    s->count.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  uint32_t dead = 0;
  const Got got = TakeWord(&s->word, block, DeadlineOf(timeout), &dead);
  if (got == Got::kNo) return false;
  s->owner_thread.store(ThreadToken(), std::memory_order_relaxed);
  s->count.store(1, std::memory_order_relaxed);
  if (got == Got::kFromDead) {
    return OwnerDiedError(recursive ? "RLock" : "Lock", dead);
  }
  return true;
}

absl::Status LockBase::ReleaseRecursive() {
  LockState* s = state();
  if (s == nullptr) return NotCreated();
  if (!IsMine()) {
    return absl::FailedPreconditionError(
        "RLock: cannot release un-acquired lock (not owned by this thread)");
  }
  if (s->count.fetch_sub(1, std::memory_order_relaxed) > 1) {
    return absl::OkStatus();
  }
  s->count.store(0, std::memory_order_relaxed);
  return ReleaseLock();
}

void LockBase::lock() {
  if (!valid()) return;
  absl::StatusOr<bool> got = Acquire(true);
  if (!got.ok()) DieOnOwnerDied(got.status());
}

bool LockBase::try_lock() {
  if (!valid()) return false;
  absl::StatusOr<bool> got = Acquire(false);
  if (!got.ok()) DieOnOwnerDied(got.status());
  return *got;
}

void LockBase::unlock() {
  if (!valid()) return;
  absl::Status s = recursive_ ? ReleaseRecursive() : ReleaseLock();
  if (!s.ok()) {
    std::fprintf(stderr, "mp: unlock(): %s\n",
                 std::string(s.message()).c_str());
    std::abort();
  }
}

absl::StatusOr<uint32_t> LockBase::ReleaseAll() {
  if (!valid()) return NotCreated();
  if (!IsMine()) {
    return absl::FailedPreconditionError(
        "Condition: must acquire() condition before using wait()");
  }
  LockState* s = state();
  const uint32_t levels =
      recursive_ ? s->count.load(std::memory_order_relaxed) : 1;
  s->owner_thread.store(0, std::memory_order_relaxed);
  s->count.store(0, std::memory_order_relaxed);
  ReleaseWord(&s->word);
  return levels;
}

absl::Status LockBase::AcquireRestore(uint32_t levels) {
  LockState* s = state();
  if (s == nullptr) return NotCreated();
  uint32_t dead = 0;
  const Got got = TakeWord(&s->word, true, std::nullopt, &dead);
  s->owner_thread.store(ThreadToken(), std::memory_order_relaxed);
  s->count.store(levels, std::memory_order_relaxed);
  if (got == Got::kFromDead) return OwnerDiedError("Condition's lock", dead);
  return absl::OkStatus();
}

}  // namespace sync_internal

absl::StatusOr<Lock> Lock::Create() {
  auto s = NewSegment(kKind);
  if (!s.ok()) return s.status();
  return Lock(*std::move(s));
}

absl::StatusOr<RLock> RLock::Create() {
  auto s = NewSegment(kKind);
  if (!s.ok()) return s.status();
  return RLock(*std::move(s));
}

uint32_t RLock::count() const {
  return IsMine() ? state()->count.load(std::memory_order_relaxed) : 0;
}

// ------------------------------------------------------------------ Semaphore

struct Semaphore::State {
  static constexpr int kSlots = 60;
  static constexpr uint32_t kBusy = 0xffffffff;  // a slot being reclaimed
  std::atomic<uint32_t> count;
  std::atomic<uint32_t> waiters;
  uint32_t max_value;  // 0: unbounded
  uint32_t track;
  std::atomic<uint32_t> abandoned;  // reclaims not yet told to an acquirer
  std::atomic<uint32_t> dead_pid;   // the last holder found dead
  struct Slot {
    std::atomic<uint32_t> pid;    // 0: free
    std::atomic<uint32_t> units;  // held by that process
  } slots[kSlots];
};

Semaphore::State* Semaphore::state() const { return StateOf<State>(segment_); }

absl::StatusOr<Semaphore> Semaphore::Make(int value, int max_value,
                                          bool track_holders) {
  if (value < 0) {
    return absl::InvalidArgumentError("Semaphore: value must be >= 0");
  }
  auto segment = sync_internal::Segment::Create(kKind, sizeof(State));
  if (!segment.ok()) return segment.status();
  Semaphore sem(*std::move(segment));
  State* s = sem.state();
  s->count.store(static_cast<uint32_t>(value));
  s->max_value = static_cast<uint32_t>(max_value);
  s->track = track_holders ? 1 : 0;
  return sem;
}

absl::StatusOr<Semaphore> Semaphore::Create(int value, bool track_holders) {
  return Make(value, 0, track_holders);
}

absl::StatusOr<BoundedSemaphore> BoundedSemaphore::Create(int value,
                                                          bool track_holders) {
  absl::StatusOr<Semaphore> s = Make(value, value, track_holders);
  if (!s.ok()) return s.status();
  if (value == 0) {
    return absl::InvalidArgumentError("BoundedSemaphore: value must be > 0");
  }
  return BoundedSemaphore(*std::move(s));
}

absl::Status Semaphore::NotCreated() {
  return NotCreatedError("mp::Semaphore", "a semaphore",
                         "mp::Semaphore::Create() (a BoundedSemaphore: "
                         "mp::BoundedSemaphore::Create())");
}

int Semaphore::GetValue() const {
  if (!valid()) return 0;
  return static_cast<int>(state()->count.load(std::memory_order_relaxed));
}

// This process's unit counter in the holder table (claiming a slot when
// `claim`), or null.
std::atomic<uint32_t>* Semaphore::MySlotUnits(bool claim) {
  State* s = state();
  if (!s->track) return nullptr;
  const uint32_t me = Me();
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (auto& slot : s->slots) {
      if (slot.pid.load(std::memory_order_relaxed) == me) return &slot.units;
    }
    if (!claim) return nullptr;
    for (auto& slot : s->slots) {
      uint32_t expected = 0;
      if (slot.pid.load(std::memory_order_relaxed) == 0 &&
          slot.pid.compare_exchange_strong(expected, me)) {
        return &slot.units;
      }
    }
    Reclaim();  // full: free the slots of ended processes, and look again
  }
  return nullptr;
}

// Gives back the units of processes that ended holding them; how many.
int Semaphore::Reclaim() {
  State* s = state();
  if (!s->track) return 0;
  const uint32_t me = Me();
  int reclaimed = 0;
  for (auto& slot : s->slots) {
    uint32_t pid = slot.pid.load(std::memory_order_relaxed);
    if (pid == 0 || pid == me || pid == State::kBusy) continue;
    if (platform::ProcessIsAlive(pid)) continue;
    if (!slot.pid.compare_exchange_strong(pid, State::kBusy)) continue;
    const uint32_t units = slot.units.exchange(0);
    slot.pid.store(0);
    if (units == 0) continue;
    s->dead_pid.store(pid);
    s->abandoned.fetch_add(1);
    s->count.fetch_add(units);
    reclaimed += static_cast<int>(units);
  }
  if (reclaimed > 0) platform::WakeWord(&s->count, reclaimed);
  return reclaimed;
}

absl::StatusOr<bool> Semaphore::Acquire(bool block, Timeout timeout) {
  if (!valid()) return NotCreated();
  State* s = state();
  const std::optional<absl::Time> deadline = DeadlineOf(timeout);
  absl::Duration slice = kFirstSlice;
  bool look = !block;
  for (;;) {
    uint32_t c = s->count.load(std::memory_order_relaxed);
    if (c > 0) {
      if (!s->count.compare_exchange_weak(c, c - 1,
                                          std::memory_order_acquire)) {
        continue;
      }
      if (std::atomic<uint32_t>* units = MySlotUnits(true)) {
        units->fetch_add(1, std::memory_order_relaxed);
      }
      uint32_t a = s->abandoned.load(std::memory_order_relaxed);
      while (a > 0 && !s->abandoned.compare_exchange_weak(a, a - 1)) {
      }
      if (a > 0) return OwnerDiedError("Semaphore", s->dead_pid.load());
      return true;
    }
    if (look && Reclaim() > 0) continue;
    look = false;
    if (!block) return false;
    if (deadline && absl::Now() >= *deadline) return false;
    s->waiters.fetch_add(1);
    const bool woken =
        platform::WaitOnWord(&s->count, 0, SliceEnd(deadline, slice));
    s->waiters.fetch_sub(1);
    if (!woken) {
      look = true;
      slice = std::min(2 * slice, kLastSlice);
    }
  }
}

absl::Status Semaphore::Release() {
  if (!valid()) return NotCreated();
  State* s = state();
  // Unrecorded first: a death in between loses a unit, never adds one.
  std::atomic<uint32_t>* units = MySlotUnits(false);
  bool took = false;
  if (units != nullptr) {
    uint32_t u = units->load(std::memory_order_relaxed);
    while (u > 0 && !units->compare_exchange_weak(u, u - 1)) {
    }
    took = u > 0;
  }
  uint32_t c = s->count.load(std::memory_order_relaxed);
  do {
    if (s->max_value != 0 && c >= s->max_value) {
      if (took) units->fetch_add(1);
      return absl::InvalidArgumentError(
          "BoundedSemaphore: semaphore or lock released too many times");
    }
  } while (
      !s->count.compare_exchange_weak(c, c + 1, std::memory_order_release));
  if (s->waiters.load() > 0) platform::WakeWord(&s->count, 1);
  return absl::OkStatus();
}

void Semaphore::lock() {
  if (!valid()) return;
  absl::StatusOr<bool> got = Acquire(true);
  if (!got.ok()) DieOnOwnerDied(got.status());
}
bool Semaphore::try_lock() {
  if (!valid()) return false;
  absl::StatusOr<bool> got = Acquire(false);
  if (!got.ok()) DieOnOwnerDied(got.status());
  return *got;
}
void Semaphore::unlock() {
  if (!valid()) return;
  if (absl::Status s = Release(); !s.ok()) {
    std::fprintf(stderr, "mp: unlock(): %s\n",
                 std::string(s.message()).c_str());
    std::abort();
  }
}

// ------------------------------------------------------------------ Condition

struct Condition::State {
  // High half: sleepers not yet notified; low half: notifications not yet
  // taken. A waiter ends by taking a notification or by uncounting itself.
  std::atomic<uint64_t> tickets;
  std::atomic<uint32_t> seq;  // bumped at every notify: what waiters sleep on
};
constexpr uint64_t kSleeper = uint64_t{1} << 32;

Condition::State* Condition::state() const { return StateOf<State>(segment_); }

absl::StatusOr<Condition> Condition::Make(
    std::shared_ptr<sync_internal::LockBase> lock, bool recursive) {
  auto segment = sync_internal::Segment::Create(kKind, sizeof(State));
  if (!segment.ok()) return segment.status();
  Condition c;
  c.lock_ = std::move(lock);
  c.recursive_ = recursive;
  c.segment_ = *std::move(segment);
  return c;
}

absl::StatusOr<Condition> Condition::Create() {
  absl::StatusOr<RLock> lock = RLock::Create();
  if (!lock.ok()) return lock.status();
  return Create(*lock);
}
absl::StatusOr<Condition> Condition::Create(const Lock& lock) {
  return Make(std::make_shared<Lock>(lock), false);
}
absl::StatusOr<Condition> Condition::Create(const RLock& lock) {
  return Make(std::make_shared<RLock>(lock), true);
}

absl::Status Condition::NotCreated() {
  return NotCreatedError("mp::Condition", "a condition",
                         "mp::Condition::Create()");
}

absl::Status Condition::Release() {
  if (!valid()) return NotCreated();
  return recursive_ ? static_cast<RLock*>(lock_.get())->Release()
                    : static_cast<Lock*>(lock_.get())->Release();
}

absl::StatusOr<bool> Condition::Wait(Timeout timeout) {
  if (!valid()) return NotCreated();
  if (!lock_->IsMine()) {
    return absl::FailedPreconditionError(
        "Condition: must acquire() condition before using wait()");
  }
  State* s = state();
  const std::optional<absl::Time> deadline = DeadlineOf(timeout);
  s->tickets.fetch_add(kSleeper);
  uint32_t seq = s->seq.load();
  absl::StatusOr<uint32_t> levels = lock_->ReleaseAll();
  if (!levels.ok()) {
    s->tickets.fetch_sub(kSleeper);
    return levels.status();
  }
  bool notified = false;
  for (;;) {
    uint64_t t = s->tickets.load();
    if ((t & 0xffffffff) > 0) {
      if (s->tickets.compare_exchange_weak(t, t - 1)) {
        notified = true;
        break;
      }
      continue;
    }
    if (deadline && absl::Now() >= *deadline && (t >> 32) > 0) {
      // Timed out: uncount ourselves, unless a notify just counted us out
      // (then its notification is ours: take it above).
      if (s->tickets.compare_exchange_weak(t, t - kSleeper)) break;
      continue;
    }
    platform::WaitOnWord(&s->seq, seq, deadline);
    seq = s->seq.load();
  }
  if (absl::Status st = lock_->AcquireRestore(*levels); !st.ok()) return st;
  return notified;
}

absl::Status Condition::Notify(int n) {
  if (!valid()) return NotCreated();
  if (!lock_->IsMine()) {
    return absl::FailedPreconditionError("Condition: lock is not owned");
  }
  if (n <= 0) return absl::OkStatus();
  State* s = state();
  uint64_t t = s->tickets.load();
  uint32_t k = 0;
  do {
    k = static_cast<uint32_t>(
        std::min<uint64_t>(static_cast<uint64_t>(n), t >> 32));
    if (k == 0) return absl::OkStatus();
  } while (!s->tickets.compare_exchange_weak(t, t - k * kSleeper + k));
  s->seq.fetch_add(1);
  platform::WakeWord(&s->seq, k == (t >> 32) ? INT_MAX : static_cast<int>(k));
  return absl::OkStatus();
}

absl::Status Condition::NotifyAll() { return Notify(INT_MAX); }

// ---------------------------------------------------------------------- Event

struct Event::State {
  std::atomic<uint32_t> flag;
  std::atomic<uint32_t> waiters;
};

Event::State* Event::state() const { return StateOf<State>(segment_); }

absl::StatusOr<Event> Event::Create() {
  auto segment = sync_internal::Segment::Create(kKind, sizeof(State));
  if (!segment.ok()) return segment.status();
  return Event(*std::move(segment));
}

bool Event::IsSet() const { return valid() && state()->flag.load() != 0; }

void Event::Set() {
  if (!valid()) return;
  State* s = state();
  s->flag.store(1);
  if (s->waiters.load() > 0) platform::WakeWord(&s->flag);
}

void Event::Clear() {
  if (valid()) state()->flag.store(0);
}

bool Event::Wait(Timeout timeout) {
  if (!valid()) return false;  // nothing could ever set it
  State* s = state();
  if (s->flag.load() != 0) return true;
  const std::optional<absl::Time> deadline = DeadlineOf(timeout);
  s->waiters.fetch_add(1);
  while (s->flag.load() == 0) {
    if (!platform::WaitOnWord(&s->flag, 0, deadline)) break;
  }
  s->waiters.fetch_sub(1);
  return s->flag.load() != 0;
}

// -------------------------------------------------------------------- Barrier

struct Barrier::State {
  // threading.Barrier's states.
  static constexpr int32_t kFilling = 0;
  static constexpr int32_t kDraining = 1;
  static constexpr int32_t kResetting = -1;
  static constexpr int32_t kBroken = -2;

  platform::SharedLock mu;
  std::atomic<uint32_t> seq;  // bumped at every change waiters look for
  int32_t state;
  uint32_t count;
  uint32_t parties;
  int64_t timeout_ns;  // < 0: none
  uint32_t pids[1];    // [parties]: the process of each waiter inside
};

Barrier::State* Barrier::state() const { return StateOf<State>(segment_); }

absl::StatusOr<Barrier> Barrier::Create(int parties,
                                        std::function<void()> action,
                                        Timeout timeout) {
  if (parties < 1) {
    return absl::InvalidArgumentError("Barrier: parties must be >= 1");
  }
  auto segment = sync_internal::Segment::Create(
      kKind,
      sizeof(State) + sizeof(uint32_t) * static_cast<std::size_t>(parties));
  if (!segment.ok()) return segment.status();
  Barrier b;
  b.segment_ = *std::move(segment);
  b.action_ = std::move(action);
  State* s = b.state();
  if (absl::Status st = platform::InitSharedLock(&s->mu); !st.ok()) return st;
  s->parties = static_cast<uint32_t>(parties);
  s->timeout_ns =
      timeout
          ? absl::ToInt64Nanoseconds(std::max(*timeout, absl::ZeroDuration()))
          : -1;
  return b;
}

void Barrier::LockState() {
  State* s = state();
  if (platform::AcquireSharedLock(&s->mu)) {
    // Its holder died in the middle of a change: nothing in it is trusted.
    s->state = State::kBroken;
    RemoveDeadWaiters();
    Broadcast();
  }
}

void Barrier::UnlockState() { platform::ReleaseSharedLock(&state()->mu); }

void Barrier::Broadcast() {
  State* s = state();
  s->seq.fetch_add(1);
  platform::WakeWord(&s->seq);
}

// The lock is held.
void Barrier::RemoveDeadWaiters() {
  State* s = state();
  bool removed = false;
  for (uint32_t i = 0; i < s->parties; ++i) {
    if (s->pids[i] != 0 && !platform::ProcessIsAlive(s->pids[i])) {
      s->pids[i] = 0;
      if (s->count > 0) --s->count;
      removed = true;
    }
  }
  if (!removed) return;
  if (s->state == State::kFilling) s->state = State::kBroken;
  if (s->count == 0 &&
      (s->state == State::kResetting || s->state == State::kDraining)) {
    s->state = State::kFilling;
  }
  Broadcast();
}

bool Barrier::WaitForChange(std::optional<absl::Time> deadline) {
  State* s = state();
  const uint32_t seq = s->seq.load();
  UnlockState();
  absl::Duration slice = kFirstSlice;
  bool changed = false;
  for (;;) {
    if (s->seq.load() != seq) {
      changed = true;
      break;
    }
    if (deadline && absl::Now() >= *deadline) break;
    if (!platform::WaitOnWord(&s->seq, seq, SliceEnd(deadline, slice))) {
      slice = std::min(2 * slice, kLastSlice);
      LockState();
      RemoveDeadWaiters();
      UnlockState();
    }
  }
  LockState();
  return changed;
}

absl::StatusOr<int> Barrier::Wait(Timeout timeout) {
  if (!valid()) {
    return NotCreatedError("mp::Barrier", "a barrier",
                           "mp::Barrier::Create(parties)");
  }
  State* s = state();
  if (!timeout && s->timeout_ns >= 0) {
    timeout = absl::Nanoseconds(s->timeout_ns);
  }
  const std::optional<absl::Time> deadline = DeadlineOf(timeout);
  LockState();
  // _enter: wait for the previous cycle to drain.
  while (s->state == State::kDraining || s->state == State::kResetting) {
    if (!WaitForChange(deadline) && deadline && absl::Now() >= *deadline) {
      UnlockState();
      return BrokenBarrierError();
    }
  }
  if (s->state < 0) {
    UnlockState();
    return BrokenBarrierError();
  }
  const uint32_t index = s->count++;
  uint32_t* my_slot = nullptr;
  for (uint32_t i = 0; i < s->parties; ++i) {
    if (s->pids[i] == 0) {
      my_slot = &s->pids[i];
      *my_slot = Me();
      break;
    }
  }
  absl::Status result;
  if (index + 1 == s->parties) {
    // _release: the last one in runs the action and lets the others go.
    if (action_) action_();
    s->state = State::kDraining;
    Broadcast();
  } else {
    // _wait
    for (;;) {
      if (s->state != State::kFilling) break;
      if (!WaitForChange(deadline) && deadline && absl::Now() >= *deadline &&
          s->state == State::kFilling) {
        s->state = State::kBroken;  // _break
        Broadcast();
        break;
      }
    }
    if (s->state < 0) result = BrokenBarrierError();
  }
  // _exit
  if (my_slot != nullptr && *my_slot == Me()) {
    *my_slot = 0;
    if (s->count > 0) --s->count;
  }
  if (s->count == 0 &&
      (s->state == State::kResetting || s->state == State::kDraining)) {
    s->state = State::kFilling;
    Broadcast();
  }
  UnlockState();
  if (!result.ok()) return result;
  return static_cast<int>(index);
}

void Barrier::Reset() {
  if (!valid()) return;
  LockState();
  State* s = state();
  if (s->count > 0) {
    if (s->state == State::kFilling || s->state == State::kBroken) {
      s->state = State::kResetting;
    }
  } else {
    s->state = State::kFilling;
  }
  Broadcast();
  UnlockState();
}

void Barrier::Abort() {
  if (!valid()) return;
  LockState();
  state()->state = State::kBroken;
  Broadcast();
  UnlockState();
}

int Barrier::parties() const {
  return valid() ? static_cast<int>(state()->parties) : 0;
}

int Barrier::n_waiting() const {
  if (!valid()) return 0;
  auto* self = const_cast<Barrier*>(this);
  self->LockState();
  const State* s = state();
  const int n = s->state == State::kFilling ? static_cast<int>(s->count) : 0;
  self->UnlockState();
  return n;
}

bool Barrier::broken() const {
  if (!valid()) return true;  // cannot be waited on
  auto* self = const_cast<Barrier*>(this);
  self->LockState();
  const bool broken = state()->state == State::kBroken;
  self->UnlockState();
  return broken;
}

// ---------------------------------------------------------------------- Codec

namespace {

// None for an object that was never created, else its segment.
void EncodeSegment(const std::shared_ptr<sync_internal::Segment>& s,
                   Encoder& e) {
  if (s == nullptr) {
    e.WriteNone();
  } else {
    s->Encode(e);
  }
}

template <typename T, typename Make>
absl::Status DecodeSegment(Decoder& d, uint32_t kind, T* out, Make make) {
  if (d.is_none()) {
    *out = T();
    return absl::OkStatus();
  }
  auto s = sync_internal::Segment::Decode(d, kind);
  if (!s.ok()) return s.status();
  *out = make(*std::move(s));
  return absl::OkStatus();
}

}  // namespace

void Codec<Lock>::Encode(const Lock& v, Encoder& e) {
  EncodeSegment(v.segment_, e);
}
absl::Status Codec<Lock>::Decode(Decoder& d, Lock* out) {
  return DecodeSegment(d, Lock::kKind, out, [](auto s) { return Lock(s); });
}
void Codec<RLock>::Encode(const RLock& v, Encoder& e) {
  EncodeSegment(v.segment_, e);
}
absl::Status Codec<RLock>::Decode(Decoder& d, RLock* out) {
  return DecodeSegment(d, RLock::kKind, out, [](auto s) { return RLock(s); });
}
void Codec<Semaphore>::Encode(const Semaphore& v, Encoder& e) {
  EncodeSegment(v.segment_, e);
}
absl::Status Codec<Semaphore>::Decode(Decoder& d, Semaphore* out) {
  return DecodeSegment(d, Semaphore::kKind, out,
                       [](auto s) { return Semaphore(s); });
}
void Codec<BoundedSemaphore>::Encode(const BoundedSemaphore& v, Encoder& e) {
  EncodeSegment(v.segment_, e);
}
absl::Status Codec<BoundedSemaphore>::Decode(Decoder& d,
                                             BoundedSemaphore* out) {
  Semaphore s;
  if (absl::Status st = Codec<Semaphore>::Decode(d, &s); !st.ok()) return st;
  if (s.valid() && s.state()->max_value == 0) {
    return absl::InvalidArgumentError("codec: a Semaphore, not bounded");
  }
  *out = BoundedSemaphore(std::move(s));
  return absl::OkStatus();
}
void Codec<Event>::Encode(const Event& v, Encoder& e) {
  EncodeSegment(v.segment_, e);
}
absl::Status Codec<Event>::Decode(Decoder& d, Event* out) {
  return DecodeSegment(d, Event::kKind, out, [](auto s) { return Event(s); });
}
void Codec<Barrier>::Encode(const Barrier& v, Encoder& e) {
  EncodeSegment(v.segment_, e);
}
absl::Status Codec<Barrier>::Decode(Decoder& d, Barrier* out) {
  return DecodeSegment(d, Barrier::kKind, out, [](auto s) {
    Barrier b;
    b.segment_ = std::move(s);
    return b;
  });
}

// (recursive, the RLock or None, the Lock or None, the condition's segment).
void Codec<Condition>::Encode(const Condition& v, Encoder& e) {
  if (v.segment_ == nullptr) {
    e.WriteNone();
    return;
  }
  const RLock no_rlock;
  const Lock no_lock;
  e.EncodeTuple(
      v.recursive_,
      v.recursive_ ? *static_cast<const RLock*>(v.lock_.get()) : no_rlock,
      v.recursive_ ? no_lock : *static_cast<const Lock*>(v.lock_.get()),
      sync_internal::SegmentRef{v.segment_});
}
absl::Status Codec<Condition>::Decode(Decoder& d, Condition* out) {
  if (d.is_none()) {
    *out = Condition();
    return absl::OkStatus();
  }
  bool recursive = true;
  RLock rlock;
  Lock lock;
  sync_internal::SegmentRef segment{nullptr, Condition::kKind};
  if (absl::Status s = d.DecodeTuple(&recursive, &rlock, &lock, &segment);
      !s.ok()) {
    return s;
  }
  if (recursive ? !rlock.valid() : !lock.valid()) {
    return absl::InvalidArgumentError("codec: a Condition without its lock");
  }
  Condition c;
  c.recursive_ = recursive;
  if (recursive) {
    c.lock_ = std::make_shared<RLock>(std::move(rlock));
  } else {
    c.lock_ = std::make_shared<Lock>(std::move(lock));
  }
  c.segment_ = std::move(segment.segment);
  *out = std::move(c);
  return absl::OkStatus();
}

}  // namespace mp
