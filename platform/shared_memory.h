// Shared memory between processes, and waiting on a word in it.
//
// POSIX (Linux): memfd_create + mmap(MAP_SHARED); the handle can be inherited
// or sent, and every process that maps it sees the same bytes. Waiting uses
// the futex system call on a 32-bit word in the mapping: no lock is held
// while waiting, so a process that dies while waiting or waking leaves
// nothing held.
//
// Windows: a section backed by the paging file, readable and writable by
// the current user only. Waits on any word in a section sleep on an event of
// the section's current wake-up generation; a wake-up moves the generation
// on and sets that event, which wakes them all (those on other words wake
// spuriously) and cannot be taken by one waiter from another. A word outside
// shared memory is waited on with WaitOnAddress. Details in
// shared_memory_win.cc.
//
// SharedLock: a mutual-exclusion lock that lives in shared memory and that
// survives its holder's death: when a process dies holding it, the next
// process to lock it gets it, told that the previous owner died (so it can
// repair what the dead owner was changing). POSIX: a process-shared, robust
// pthread mutex (the kernel releases it at the holder's death). Windows: a
// named mutex (the system abandons it at the holder's death); the lock says
// that its owner died if some other process, such as the one that
// initialised it, had it open then.
#ifndef MULTIPROCESSING_PLATFORM_SHARED_MEMORY_H_
#define MULTIPROCESSING_PLATFORM_SHARED_MEMORY_H_

#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "multiprocessing/platform/handle.h"

namespace mp::platform {

// `size` zeroed bytes of shared memory (close-on-exec handle).
[[nodiscard]] absl::StatusOr<ScopedHandle> CreateSharedMemory(std::size_t size);

// A mapping of shared memory; unmapped by the destructor. Move-only.
class SharedMapping {
 public:
  SharedMapping() = default;
  SharedMapping(SharedMapping&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  SharedMapping& operator=(SharedMapping&& other) noexcept {
    if (this != &other) {
      SharedMapping old(std::move(*this));  // unmapped as it goes
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  SharedMapping(const SharedMapping&) = delete;
  SharedMapping& operator=(const SharedMapping&) = delete;
  ~SharedMapping();

  void* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  friend absl::StatusOr<SharedMapping> MapSharedMemory(NativeHandle,
                                                       std::size_t);
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

// Maps the first `size` bytes of shared memory `h`; kDataLoss if the object
// is smaller (its size may come from another process).
[[nodiscard]] absl::StatusOr<SharedMapping> MapSharedMemory(NativeHandle h,
                                                            std::size_t size);

// Blocks while *word == expected, until woken or `deadline` (nullopt: no
// deadline). Returns false at the deadline, true otherwise (which includes
// spurious wake-ups: re-check the word). Signals do not cut it short.
bool WaitOnWord(const std::atomic<uint32_t>* word, uint32_t expected,
                std::optional<absl::Time> deadline);

// Wakes up to `count` processes and threads waiting on `word` (all of them
// by default).
void WakeWord(const std::atomic<uint32_t>* word, int count = INT_MAX);

// Tells the CPU that this thread is spinning on a word another one will
// change (x86 PAUSE, Arm YIELD): cheaper for the sibling hyperthread and
// for leaving the loop. A no-op elsewhere.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// Storage for a SharedLock, placed in shared memory. Not copyable or
// movable: its address is its identity.
struct alignas(16) SharedLock {
  SharedLock() = default;
  SharedLock(const SharedLock&) = delete;
  SharedLock& operator=(const SharedLock&) = delete;
  unsigned char storage[48];
};

// Makes `lock` (in zeroed shared memory, before any other process maps it)
// a working, unlocked lock.
[[nodiscard]] absl::Status InitSharedLock(SharedLock* lock);

// Blocks until this thread holds `lock`. Returns true when the previous
// holder died holding it: the lock is held and usable, but what it guards
// may be half-changed. The lock is not re-entrant.
bool AcquireSharedLock(SharedLock* lock);

// AcquireSharedLock that gives up at `deadline` (a holder that is alive but
// stopped, say): nullopt then, and the lock is not held. Otherwise what
// AcquireSharedLock returns. Waiting for a held lock polls with a growing
// pause (up to 1 ms), so it is for callers that have a deadline.
std::optional<bool> AcquireSharedLockUntil(SharedLock* lock,
                                           absl::Time deadline);

// AcquireSharedLock (deadline nullopt) or AcquireSharedLockUntil, for locks
// in memory other processes can write: a lock whose bytes are not a working
// lock is kDataLoss (the lock is not held) where those two abort the
// process. Otherwise nullopt at the deadline, or whether the owner died.
[[nodiscard]] absl::StatusOr<std::optional<bool>> AcquireSharedLockChecked(
    SharedLock* lock, std::optional<absl::Time> deadline);

void ReleaseSharedLock(SharedLock* lock);

// Holds a SharedLock for its lifetime.
class SharedLockHolder {
 public:
  explicit SharedLockHolder(SharedLock* lock)
      : lock_(lock), owner_died_(AcquireSharedLock(lock)) {}
  ~SharedLockHolder() { ReleaseSharedLock(lock_); }
  SharedLockHolder(const SharedLockHolder&) = delete;
  SharedLockHolder& operator=(const SharedLockHolder&) = delete;

  // The previous holder died holding the lock.
  bool owner_died() const { return owner_died_; }

 private:
  SharedLock* lock_;
  bool owner_died_;
};

}  // namespace mp::platform

#endif  // MULTIPROCESSING_PLATFORM_SHARED_MEMORY_H_
