#include "multiprocessing/platform/win_util.h"

#include <winsock2.h>

#include <atomic>
#include <mutex>

#include "absl/container/flat_hash_map.h"

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
std::mutex connected_mu;
absl::flat_hash_map<HANDLE, bool>& ConnectedInstances() {
  static auto* instances = new absl::flat_hash_map<HANDLE, bool>;
  return *instances;
}
}  // namespace

void MarkConnectedPipeInstance(HANDLE h, bool connected) {
  std::lock_guard<std::mutex> lock(connected_mu);
  if (connected) {
    ConnectedInstances()[h] = true;
  } else {
    ConnectedInstances().erase(h);
  }
}

bool IsConnectedPipeInstance(HANDLE h) {
  std::lock_guard<std::mutex> lock(connected_mu);
  return ConnectedInstances().contains(h);
}

bool IsSocket(HANDLE h) {
  if (GetFileType(h) != FILE_TYPE_PIPE) return false;
  // The caller may be about to report an earlier error.
  const DWORD saved_error = GetLastError();
  // A pipe answers GetNamedPipeInfo, unless it is a write-only end opened
  // without FILE_READ_ATTRIBUTES, which the call needs: so its failure
  // proves nothing, and only Winsock itself says "socket" (getsockopt fails
  // with WSAENOTSOCK on anything else).
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
