// Shared memory, waiting on a word in it, and SharedLock on Windows.
//
// Memory: a section backed by the paging file (CreateFileMapping with no
// file), zero-filled; it lives while a handle or a view of it does. Each
// section starts with a header, before the bytes its user asked for (so a
// view of any prefix finds it): a random key, a count of the threads
// waiting on words in the section, and a wake-up generation.
//
// Waiting: Windows has no futex across processes (WaitOnAddress is within
// one), so a section has one manual-reset event per generation, named after
// its key and the generation, made by its first waiter and gone with its
// last handle. A waiter counts itself, reads the generation g, checks the
// word, creates (or opens) event g, and waits on it only if the generation
// is still g. A waker changes the word, and if anyone is counted, moves the
// generation on and sets event g (if any waiter has it open). An event, once
// set, stays set: every waiter of generation g wakes, and none can take
// another's wake-up (a semaphore's tokens could be: a waiter that came after
// a wake-up could consume the token meant for one that was already asleep,
// which then slept on, a lost wake-up). Waiters on other words of the
// section wake spuriously and look again. Whatever the interleaving, a
// waiter that sleeps on event g had it open before the generation left g,
// so the waker that moved it on finds the event and sets it. A waiter killed
// while waiting stays counted: wakers then move the generation on and look
// for an event each time, no worse.
//
// A word outside the views of sections this process mapped is this
// process's own memory: WaitOnAddress and WakeByAddress*, no polling.
//
// SharedLock: a named mutex. The 48 bytes in shared memory hold its random
// name; the process that initialises it, and each process at its first use,
// opens it and keeps the handle until it unmaps the memory. The system
// releases a mutex whose owner died (WAIT_ABANDONED): exactly the robust
// lock's contract.
//
// Every section, event and mutex made here gets OwnerOnlySecurity()
// (security_win.h): the current user and LocalSystem only.
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
#include "multiprocessing/platform/security_win.h"
#include "multiprocessing/platform/shared_memory.h"
#include "multiprocessing/platform/win_util.h"

namespace mp::platform {
namespace {

constexpr std::size_t kKeySize = 16;

struct Header {
  char key[kKeySize];
  std::atomic<uint32_t> waiters;
  std::atomic<uint64_t> generation;  // of wake-ups
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

// The name of the event that waiters of `generation` of the section with
// `key` sleep on.
std::wstring EventName(const Header* h, uint64_t generation) {
  return Utf8ToWide(
      absl::StrCat("Local\\multiprocessing-wake-",
                   absl::BytesToHexString(absl::string_view(h->key, kKeySize)),
                   "-", generation));
}

// The views this process has mapped, by start address, with the named
// objects opened for them: the mutexes of SharedLocks in it (at their first
// use), closed when the view is unmapped.
struct View {
  std::size_t size;                                  // the header included
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

// The header of the section `word` is in; null when it is in none of this
// process's views.
Header* SectionOf(const void* word) {
  std::lock_guard<std::mutex> lock(views_mu);
  auto* view = ViewOf(word);
  if (view == nullptr) return nullptr;
  return reinterpret_cast<Header*>(const_cast<char*>(view->first));
}

}  // namespace

absl::StatusOr<ScopedHandle> CreateSharedMemory(std::size_t size) {
  const uint64_t total = kHeaderSize + size;
  ScopedHandle section(reinterpret_cast<NativeHandle>(CreateFileMappingW(
      INVALID_HANDLE_VALUE, OwnerOnlySecurity(), PAGE_READWRITE,
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
  Header* header = SectionOf(word);
  if (header == nullptr) {
    // This process's own memory: the system's wait on an address, which
    // WakeWord's WakeByAddress* ends (or a spurious wake-up).
    if (word->load() != expected) return true;
    const DWORD ms = MillisecondsUntil(deadline);
    if (ms == 0) return false;
    volatile void* address =
        const_cast<std::atomic<uint32_t>*>(word);  // 4 bytes, as a uint32_t
    uint32_t compare = expected;
    if (WaitOnAddress(address, &compare, sizeof compare, ms)) return true;
    return GetLastError() != ERROR_TIMEOUT;
  }
  header->waiters.fetch_add(1);
  const uint64_t generation = header->generation.load();
  bool woken = true;
  if (word->load() == expected) {
    const DWORD ms = MillisecondsUntil(deadline);
    if (ms == 0) {
      woken = false;
    } else if (HANDLE event =
                   CreateEventW(OwnerOnlySecurity(), /*bManualReset=*/TRUE,
                                /*bInitialState=*/FALSE,
                                EventName(header, generation).c_str())) {
      // Still `generation`: the waker that moves it on will find the event.
      if (header->generation.load() == generation) {
        woken = WaitForSingleObject(event, ms) == WAIT_OBJECT_0;
      }
      CloseHandle(event);
    } else {
      // No event to be had (out of resources): a wake-up may be missed, so
      // say "woken" after a moment, and the caller looks at the word again.
      Sleep(1);
    }
  }
  header->waiters.fetch_sub(1);
  return woken;
}

void WakeWord(const std::atomic<uint32_t>* word, int count) {
  // The caller's change of the word comes before reading who waits.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  Header* header = SectionOf(word);
  if (header == nullptr) {
    void* address = const_cast<std::atomic<uint32_t>*>(word);
    if (count == 1) {
      WakeByAddressSingle(address);
    } else {
      WakeByAddressAll(address);
    }
    return;
  }
  // Nobody counted: any later waiter reads the word after its change.
  if (header->waiters.load() == 0) return;
  const uint64_t generation = header->generation.fetch_add(1);
  // None: every waiter of that generation saw it move on before waiting.
  HANDLE event = OpenEventW(EVENT_MODIFY_STATE, FALSE,
                            EventName(header, generation).c_str());
  if (event == nullptr) return;
  SetEvent(event);
  CloseHandle(event);
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
    h = CreateMutexW(OwnerOnlySecurity(), FALSE,
                     ObjectName("lock", key).c_str());
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
