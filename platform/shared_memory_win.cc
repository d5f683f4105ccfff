// Shared memory, waiting on a word in it, and SharedLock on Windows.
//
// Memory: a section backed by the paging file (CreateFileMapping with no
// file), zero-filled; it lives while a handle or a view of it does. Each
// section starts with a header, before the bytes its user asked for (so a
// view of any prefix finds it): a random key and a count of the threads
// waiting on words in the section.
//
// Waiting: Windows has no futex across processes (WaitOnAddress is within
// one), so every section has a semaphore named after its key. A waiter
// counts itself in the header, checks the word, and waits on the semaphore;
// a waker tops the semaphore up to the number counted, so every waiter of
// the section wakes (waiters on other words of it wake spuriously and look
// again). Counting before checking, and changing the word before reading
// the count, means a wake-up is never lost. A waiter killed while waiting
// stays counted: later wake-ups then make each waiter of the section wake
// spuriously up to that many more times, no worse.
//
// SharedLock: a named mutex. The 48 bytes in shared memory hold its random
// name; the process that initialises it, and each process at its first use,
// opens it and keeps the handle until it unmaps the memory. The system
// releases a mutex whose owner died (WAIT_ABANDONED): exactly the robust
// lock's contract.
#include <windows.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "multiprocessing/platform/crypto.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/shared_memory.h"
#include "multiprocessing/platform/win_util.h"

namespace mp::platform {
namespace {

constexpr std::size_t kKeySize = 16;

struct Header {
  char key[kKeySize];
  std::atomic<uint32_t> waiters;
};
// The user's bytes start this far into the section (and their view).
constexpr std::size_t kHeaderSize = 64;
static_assert(sizeof(Header) <= kHeaderSize);

std::wstring ObjectName(absl::string_view kind, absl::string_view key) {
  return Utf8ToWide(absl::StrCat("Local\\multiprocessing-", kind, "-",
                                 absl::BytesToHexString(key)));
}

absl::Status RandomKey(char* key) {
  return RandomBytes(absl::MakeSpan(key, kKeySize));
}

// The views this process has mapped, by start address, with the named
// objects opened for them: the section's semaphore (at the first wait or
// wake) and the mutexes of SharedLocks in it (at their first use), closed
// when the view is unmapped.
struct View {
  std::size_t size;  // the header included
  HANDLE semaphore = nullptr;
  absl::flat_hash_map<std::string, HANDLE> mutexes;  // by lock key
};
std::mutex views_mu;
std::map<const char*, View>& Views() {
  static auto* views = new std::map<const char*, View>;
  return *views;
}

// The view that `p` is in, or null. views_mu is held.
std::pair<const char* const, View>* ViewOf(const void* p) {
  const char* c = static_cast<const char*>(p);
  auto it = Views().upper_bound(c);
  if (it == Views().begin()) return nullptr;
  --it;
  return c < it->first + it->second.size ? &*it : nullptr;
}

// The header and semaphore of the section `word` is in; false when it is in
// none of this process's views (or the semaphore cannot be had).
bool FindSection(const void* word, Header** header, HANDLE* semaphore) {
  std::lock_guard<std::mutex> lock(views_mu);
  auto* view = ViewOf(word);
  if (view == nullptr) return false;
  auto* h = reinterpret_cast<Header*>(const_cast<char*>(view->first));
  HANDLE& s = view->second.semaphore;
  if (s == nullptr) {
    s = CreateSemaphoreW(
        nullptr, 0, LONG_MAX,
        ObjectName("wake", absl::string_view(h->key, kKeySize)).c_str());
    if (s == nullptr) return false;
  }
  *header = h;
  *semaphore = s;
  return true;
}

DWORD MillisecondsUntil(std::optional<absl::Time> deadline) {
  if (!deadline) return INFINITE;
  const absl::Duration left = *deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<DWORD>(std::min<int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
      INFINITE - 1));
}

}  // namespace

absl::StatusOr<ScopedHandle> CreateSharedMemory(std::size_t size) {
  const uint64_t total = kHeaderSize + size;
  ScopedHandle section(reinterpret_cast<NativeHandle>(CreateFileMappingW(
      INVALID_HANDLE_VALUE, nullptr, PAGE_READWRITE,
      static_cast<DWORD>(total >> 32), static_cast<DWORD>(total), nullptr)));
  if (section.get() == 0) {
    section.release();  // CreateFileMapping fails with NULL
    return LastNativeError("CreateFileMappingW");
  }
  void* view = MapViewOfFile(AsHandle(section.get()), FILE_MAP_ALL_ACCESS, 0, 0,
                             kHeaderSize);
  if (view == nullptr) return LastNativeError("MapViewOfFile");
  const absl::Status keyed = RandomKey(static_cast<Header*>(view)->key);
  UnmapViewOfFile(view);
  if (!keyed.ok()) return keyed;
  return section;
}

SharedMapping::~SharedMapping() {
  if (data_ == nullptr) return;
  char* base = static_cast<char*>(data_) - kHeaderSize;
  View view;
  {
    std::lock_guard<std::mutex> lock(views_mu);
    auto it = Views().find(base);
    if (it != Views().end()) {
      view = std::move(it->second);
      Views().erase(it);
    }
  }
  if (view.semaphore != nullptr) CloseHandle(view.semaphore);
  for (const auto& [key, mutex] : view.mutexes) CloseHandle(mutex);
  UnmapViewOfFile(base);
}

absl::StatusOr<SharedMapping> MapSharedMemory(NativeHandle h,
                                              std::size_t size) {
  const std::size_t total = kHeaderSize + size;
  char* base = static_cast<char*>(
      MapViewOfFile(AsHandle(h), FILE_MAP_ALL_ACCESS, 0, 0, total));
  if (base == nullptr) return LastNativeError("MapViewOfFile");
  SharedMapping m;
  m.data_ = base + kHeaderSize;
  m.size_ = size;
  std::lock_guard<std::mutex> lock(views_mu);
  Views()[base].size = total;
  return m;
}

bool WaitOnWord(const std::atomic<uint32_t>* word, uint32_t expected,
                std::optional<absl::Time> deadline) {
  Header* header;
  HANDLE semaphore;
  if (!FindSection(word, &header, &semaphore)) {
    // Not in shared memory of ours: look at it every millisecond.
    while (word->load() == expected) {
      const DWORD ms = MillisecondsUntil(deadline);
      if (ms == 0) return false;
      Sleep(std::min<DWORD>(ms, 1));
    }
    return true;
  }
  header->waiters.fetch_add(1);
  bool woken = true;
  if (word->load() == expected) {
    const DWORD ms = MillisecondsUntil(deadline);
    woken = ms != 0 && WaitForSingleObject(semaphore, ms) == WAIT_OBJECT_0;
  }
  header->waiters.fetch_sub(1);
  return woken;
}

void WakeWord(const std::atomic<uint32_t>* word, int /*count*/) {
  Header* header;
  HANDLE semaphore;
  if (!FindSection(word, &header, &semaphore)) return;
  const LONG waiters = static_cast<LONG>(header->waiters.load());
  if (waiters == 0) return;
  // Top the count up to the number of waiters, not beyond: releases meant
  // for waiters that have since timed out (or died) do not pile up.
  LONG before = 0;
  if (!ReleaseSemaphore(semaphore, 1, &before)) return;
  if (before + 1 < waiters) {
    ReleaseSemaphore(semaphore, waiters - before - 1, nullptr);
  }
}

namespace {

// The SharedLock's storage: a mark that it was initialised, and the key its
// mutex is named after.
constexpr uint32_t kLockMagic = 0x6d704c6b;  // "mpLk"

struct LockStorage {
  uint32_t magic;
  char key[kKeySize];
};
static_assert(sizeof(LockStorage) <= sizeof(SharedLock::storage));

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "mp: SharedLock: %s: error %lu\n", what, GetLastError());
  std::abort();
}

// This process's handle to the mutex of `lock`, opened (or, when no process
// has it open any more, created unowned) at first use, and kept with the
// view the lock is in (a lock outside shared memory: for good).
HANDLE MutexOf(SharedLock* lock) {
  const auto* s = reinterpret_cast<const LockStorage*>(lock->storage);
  if (s->magic != kLockMagic) {
    SetLastError(ERROR_INVALID_DATA);
    Die("not initialised");
  }
  const std::string key(s->key, kKeySize);
  std::lock_guard<std::mutex> guard(views_mu);
  static auto* unmapped = new absl::flat_hash_map<std::string, HANDLE>;
  auto* view = ViewOf(lock);
  HANDLE& h = (view != nullptr ? view->second.mutexes : *unmapped)[key];
  if (h == nullptr) {
    h = CreateMutexW(nullptr, FALSE, ObjectName("lock", key).c_str());
    if (h == nullptr) Die("CreateMutexW");
  }
  return h;
}

// What waiting for the mutex returned: whether its owner had died; nullopt
// on timeout.
std::optional<bool> Acquired(DWORD r) {
  switch (r) {
    case WAIT_OBJECT_0:
      return false;
    case WAIT_ABANDONED:
      return true;
    case WAIT_TIMEOUT:
      return std::nullopt;
    default:
      Die("WaitForSingleObject");
  }
}

}  // namespace

absl::Status InitSharedLock(SharedLock* lock) {
  auto* s = reinterpret_cast<LockStorage*>(lock->storage);
  if (absl::Status st = RandomKey(s->key); !st.ok()) return st;
  s->magic = kLockMagic;
  // Opened now, so that the mutex outlives a holder that dies before any
  // other process opened it (a mutex no process has open is gone, and a new
  // one would not say that its owner died).
  MutexOf(lock);
  return absl::OkStatus();
}

bool AcquireSharedLock(SharedLock* lock) {
  return *Acquired(WaitForSingleObject(MutexOf(lock), INFINITE));
}

std::optional<bool> AcquireSharedLockUntil(SharedLock* lock,
                                           absl::Time deadline) {
  return Acquired(
      WaitForSingleObject(MutexOf(lock), MillisecondsUntil(deadline)));
}

absl::StatusOr<std::optional<bool>> AcquireSharedLockChecked(
    SharedLock* lock, std::optional<absl::Time> deadline) {
  const auto* s = reinterpret_cast<const LockStorage*>(lock->storage);
  if (s->magic != kLockMagic) {
    return absl::DataLossError(
        "SharedLock: not a lock (its shared memory was overwritten?)");
  }
  const DWORD r = WaitForSingleObject(
      MutexOf(lock), deadline ? MillisecondsUntil(*deadline) : INFINITE);
  switch (r) {
    case WAIT_OBJECT_0:
      return std::optional<bool>(false);
    case WAIT_ABANDONED:
      return std::optional<bool>(true);
    case WAIT_TIMEOUT:
      return std::optional<bool>();
    default:
      return absl::DataLossError(
          absl::StrCat("SharedLock: WaitForSingleObject: ",
                       LastNativeError("wait").message()));
  }
}

void ReleaseSharedLock(SharedLock* lock) {
  if (!ReleaseMutex(MutexOf(lock))) Die("ReleaseMutex");
}

}  // namespace mp::platform
