#include "platform/overlapped_win.h"

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
