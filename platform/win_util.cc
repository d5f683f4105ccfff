#include "multiprocessing/platform/win_util.h"

#include <winsock2.h>

#include <atomic>
#include <memory>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"

namespace mp::platform {
namespace {

std::mutex mu;
absl::flat_hash_map<HANDLE, DWORD>& Timeouts() {
  static auto* timeouts = new absl::flat_hash_map<HANDLE, DWORD>;
  return *timeouts;
}
// How many handles have a timeout: while none has, no lock is taken.
std::atomic<int> count{0};

}  // namespace

std::wstring Utf8ToWide(absl::string_view s) {
  if (s.empty()) return std::wstring();
  const int n = MultiByteToWideChar(CP_UTF8, 0, s.data(),
                                    static_cast<int>(s.size()), nullptr, 0);
  std::wstring out(n, L'\0');
  MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()),
                      out.data(), n);
  return out;
}

std::string WideToUtf8(const wchar_t* s, std::size_t size) {
  if (size == 0) return std::string();
  const int n = WideCharToMultiByte(CP_UTF8, 0, s, static_cast<int>(size),
                                    nullptr, 0, nullptr, nullptr);
  std::string out(n, '\0');
  WideCharToMultiByte(CP_UTF8, 0, s, static_cast<int>(size), out.data(), n,
                      nullptr, nullptr);
  return out;
}

namespace {

struct Listening {
  OVERLAPPED ov = {};
  // ERROR_IO_PENDING while the connect runs in the system; else its result,
  // known when it was started.
  DWORD started = ERROR_IO_PENDING;
};

std::mutex listening_mu;
absl::flat_hash_map<HANDLE, std::unique_ptr<Listening>>& ListeningInstances() {
  static auto* instances =
      new absl::flat_hash_map<HANDLE, std::unique_ptr<Listening>>;
  return *instances;
}

std::mutex empty_mu;
absl::flat_hash_set<HANDLE>& EmptyMessages() {
  static auto* handles = new absl::flat_hash_set<HANDLE>;
  return *handles;
}
std::atomic<int> empty_count{0};

// Takes `h`'s listening record out of the map.
std::unique_ptr<Listening> TakeListening(HANDLE h) {
  std::lock_guard<std::mutex> lock(listening_mu);
  auto it = ListeningInstances().find(h);
  if (it == ListeningInstances().end()) return nullptr;
  std::unique_ptr<Listening> l = std::move(it->second);
  ListeningInstances().erase(it);
  return l;
}

void CloseListening(std::unique_ptr<Listening> l) {
  if (l->ov.hEvent != nullptr) CloseHandle(l->ov.hEvent);
}

}  // namespace

DWORD StartListening(HANDLE h) {
  auto l = std::make_unique<Listening>();
  l->ov.hEvent = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (l->ov.hEvent == nullptr) return GetLastError();
  const DWORD error =
      ConnectNamedPipe(h, &l->ov) ? ERROR_SUCCESS : GetLastError();
  if (error != ERROR_IO_PENDING) {
    if (error != ERROR_SUCCESS && error != ERROR_PIPE_CONNECTED &&
        error != ERROR_NO_DATA) {
      CloseListening(std::move(l));
      return error;
    }
    // Done at once: a client was there first. The event is ours to set.
    l->started = error;
    SetEvent(l->ov.hEvent);
  }
  std::lock_guard<std::mutex> lock(listening_mu);
  auto& slot = ListeningInstances()[h];
  if (slot != nullptr) CloseListening(std::move(slot));
  slot = std::move(l);
  return ERROR_SUCCESS;
}

HANDLE ListeningEvent(HANDLE h) {
  std::lock_guard<std::mutex> lock(listening_mu);
  auto it = ListeningInstances().find(h);
  return it == ListeningInstances().end() ? nullptr : it->second->ov.hEvent;
}

DWORD FinishListening(HANDLE h) {
  std::unique_ptr<Listening> l = TakeListening(h);
  if (l == nullptr) return ERROR_INVALID_HANDLE;
  DWORD error = l->started;
  if (error == ERROR_IO_PENDING) {
    DWORD unused = 0;
    error = FinishOverlapped(h, &l->ov, &unused);
  }
  CloseListening(std::move(l));
  return error;
}

void NoteEmptyMessage(HANDLE h) {
  std::lock_guard<std::mutex> lock(empty_mu);
  if (EmptyMessages().insert(h).second) {
    empty_count.fetch_add(1, std::memory_order_release);
  }
}

bool HasEmptyMessage(HANDLE h) {
  if (empty_count.load(std::memory_order_acquire) == 0) return false;
  std::lock_guard<std::mutex> lock(empty_mu);
  return EmptyMessages().contains(h);
}

bool TakeEmptyMessage(HANDLE h) {
  if (empty_count.load(std::memory_order_acquire) == 0) return false;
  std::lock_guard<std::mutex> lock(empty_mu);
  if (EmptyMessages().erase(h) == 0) return false;
  empty_count.fetch_sub(1, std::memory_order_release);
  return true;
}

void ForgetHandle(HANDLE h) {
  SetReadTimeout(h, INFINITE);
  TakeEmptyMessage(h);
  if (std::unique_ptr<Listening> l = TakeListening(h)) {
    if (l->started == ERROR_IO_PENDING) {
      // The system writes to `ov` until the connect is finished.
      CancelIoEx(h, &l->ov);
      DWORD unused = 0;
      FinishOverlapped(h, &l->ov, &unused);
    }
    CloseListening(std::move(l));
  }
}

bool IsSocket(HANDLE h) {
  if (GetFileType(h) != FILE_TYPE_PIPE) return false;
  // The caller may be about to report an earlier error.
  const DWORD saved_error = GetLastError();
  // A pipe answers GetNamedPipeInfo, unless it is a write-only end opened
  // without FILE_READ_ATTRIBUTES, which the call needs, or an end whose
  // server disconnected: so its failure proves nothing, and only Winsock
  // itself says "socket" (getsockopt fails with WSAENOTSOCK on anything
  // else).
  bool socket = false;
  if (!GetNamedPipeInfo(h, nullptr, nullptr, nullptr, nullptr) &&
      StartWinsock() == 0) {
    int type = 0;
    int size = sizeof(type);
    socket = getsockopt(reinterpret_cast<SOCKET>(h), SOL_SOCKET, SO_TYPE,
                        reinterpret_cast<char*>(&type), &size) == 0;
  }
  SetLastError(saved_error);
  return socket;
}

int StartWinsock() {
  static const int error = [] {
    WSADATA data;
    return WSAStartup(MAKEWORD(2, 2), &data);
  }();
  return error;
}

void SetReadTimeout(HANDLE h, DWORD ms) {
  if (ms == INFINITE && count.load(std::memory_order_acquire) == 0) return;
  std::lock_guard<std::mutex> lock(mu);
  if (ms == INFINITE) {
    if (Timeouts().erase(h) > 0) count.fetch_sub(1, std::memory_order_release);
  } else if (Timeouts().insert_or_assign(h, ms).second) {
    count.fetch_add(1, std::memory_order_release);
  }
}

DWORD ReadTimeout(HANDLE h) {
  if (count.load(std::memory_order_acquire) == 0) return INFINITE;
  std::lock_guard<std::mutex> lock(mu);
  auto it = Timeouts().find(h);
  return it == Timeouts().end() ? INFINITE : it->second;
}

}  // namespace mp::platform
