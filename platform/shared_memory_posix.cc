#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/shared_memory.h"

namespace mp::platform {

absl::StatusOr<ScopedHandle> CreateSharedMemory(std::size_t size) {
  const int fd = ::memfd_create("mp-shared", MFD_CLOEXEC);
  if (fd < 0) return LastNativeError("memfd_create");
  ScopedHandle handle(fd);
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    return LastNativeError("ftruncate");
  }
  return handle;
}

SharedMapping::~SharedMapping() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

absl::StatusOr<SharedMapping> MapSharedMemory(NativeHandle h,
                                              std::size_t size) {
  // Touching a page past the one holding the object's end raises SIGBUS: a
  // size that came from another process is checked against the object.
  struct stat st = {};
  if (::fstat(static_cast<int>(h), &st) != 0) return LastNativeError("fstat");
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  if ((static_cast<uint64_t>(st.st_size) + page - 1) / page * page < size) {
    return absl::DataLossError(
        absl::StrCat("MapSharedMemory: ", size,
                     " bytes asked of a shared memory object of ", st.st_size));
  }
  void* p = ::mmap(nullptr, size == 0 ? 1 : size, PROT_READ | PROT_WRITE,
                   MAP_SHARED, static_cast<int>(h), 0);
  if (p == MAP_FAILED) return LastNativeError("mmap");
  SharedMapping m;
  m.data_ = p;
  m.size_ = size == 0 ? 1 : size;
  return m;
}

bool WaitOnWord(const std::atomic<uint32_t>* word, uint32_t expected,
                std::optional<absl::Time> deadline) {
  timespec ts;
  timespec* timeout = nullptr;
  if (deadline) {
    const absl::Duration left = *deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    ts = absl::ToTimespec(left);
    timeout = &ts;
  }
  // Not FUTEX_PRIVATE: the word is shared between processes.
  const long r =
      ::syscall(SYS_futex, word, FUTEX_WAIT, expected, timeout, nullptr, 0);
  if (r == 0 || errno == EAGAIN || errno == EINTR) return true;
  return errno != ETIMEDOUT;
}

void WakeWord(const std::atomic<uint32_t>* word, int count) {
  ::syscall(SYS_futex, word, FUTEX_WAKE, count, nullptr, nullptr, 0);
}

static_assert(sizeof(pthread_mutex_t) <= sizeof(SharedLock::storage));
static_assert(alignof(pthread_mutex_t) <= alignof(SharedLock));

namespace {

pthread_mutex_t* MutexOf(SharedLock* lock) {
  return reinterpret_cast<pthread_mutex_t*>(lock->storage);
}

[[noreturn]] void Die(const char* what, int error) {
  std::fprintf(stderr, "mp: SharedLock: %s: %s\n", what, std::strerror(error));
  std::abort();
}

[[noreturn]] void Die(const absl::Status& status) {
  std::fprintf(stderr, "mp: %s\n", status.ToString().c_str());
  std::abort();
}

// What pthread_mutex_lock or _trylock returned (not EBUSY): whether the
// owner had died (the lock is then made consistent); kDataLoss for a lock
// whose bytes are not a working lock.
absl::StatusOr<bool> Acquired(SharedLock* lock, int r, const char* operation) {
  if (r == 0) return false;
  if (r != EOWNERDEAD) {
    return absl::DataLossError(
        absl::StrCat("SharedLock: ", operation, ": ", std::strerror(r),
                     " (the lock's shared memory was overwritten?)"));
  }
  // The caller repairs what the dead owner left; the lock stays usable.
  if (const int c = pthread_mutex_consistent(MutexOf(lock)); c != 0) {
    return absl::DataLossError(absl::StrCat(
        "SharedLock: pthread_mutex_consistent: ", std::strerror(c)));
  }
  return true;
}

}  // namespace

absl::Status InitSharedLock(SharedLock* lock) {
  pthread_mutexattr_t attr;
  int r = pthread_mutexattr_init(&attr);
  if (r == 0) r = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (r == 0) r = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (r == 0) r = pthread_mutex_init(MutexOf(lock), &attr);
  pthread_mutexattr_destroy(&attr);
  if (r != 0) return NativeError(r, "pthread_mutex_init(robust, shared)");
  return absl::OkStatus();
}

absl::StatusOr<std::optional<bool>> AcquireSharedLockChecked(
    SharedLock* lock, std::optional<absl::Time> deadline) {
  if (!deadline) {
    return Acquired(lock, pthread_mutex_lock(MutexOf(lock)),
                    "pthread_mutex_lock");
  }
  // trylock, not pthread_mutex_timedlock: ThreadSanitizer follows the
  // former, and the lock is held only briefly unless its holder stopped.
  absl::Duration pause = absl::Microseconds(5);
  for (;;) {
    const int r = pthread_mutex_trylock(MutexOf(lock));
    if (r != EBUSY) return Acquired(lock, r, "pthread_mutex_trylock");
    const absl::Duration left = *deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return std::nullopt;
    absl::SleepFor(std::min(pause, left));
    pause = std::min(2 * pause, absl::Milliseconds(1));
  }
}

bool AcquireSharedLock(SharedLock* lock) {
  absl::StatusOr<std::optional<bool>> r =
      AcquireSharedLockChecked(lock, std::nullopt);
  if (!r.ok()) Die(r.status());
  return **r;
}

std::optional<bool> AcquireSharedLockUntil(SharedLock* lock,
                                           absl::Time deadline) {
  absl::StatusOr<std::optional<bool>> r =
      AcquireSharedLockChecked(lock, deadline);
  if (!r.ok()) Die(r.status());
  return *r;
}

void ReleaseSharedLock(SharedLock* lock) {
  if (const int r = pthread_mutex_unlock(MutexOf(lock)); r != 0) {
    Die("pthread_mutex_unlock", r);
  }
}

}  // namespace mp::platform
