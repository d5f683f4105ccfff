#include "ipc/inherited_handles.h"

#include <algorithm>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace mp {
namespace {

std::mutex mu;
// Owned by this process, not claimed yet.
std::vector<platform::NativeHandle>* claimable ABSL_GUARDED_BY(mu) = nullptr;

}  // namespace

absl::StatusOr<platform::ScopedHandle> ClaimInheritedHandle(
    platform::NativeHandle handle) {
  std::lock_guard<std::mutex> lock(mu);
  if (claimable != nullptr) {
    auto it = std::find(claimable->begin(), claimable->end(), handle);
    if (it != claimable->end()) {
      claimable->erase(it);
      return platform::ScopedHandle(handle);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "handle ", handle,
      " was not inherited by this process (a Connection or Queue can only "
      "travel as an argument of a spawned Process), or was claimed already"));
}

namespace ipc_internal {

void SetClaimableHandles(absl::Span<const platform::NativeHandle> handles) {
  std::lock_guard<std::mutex> lock(mu);
  if (claimable == nullptr) claimable = new std::vector<platform::NativeHandle>;
  claimable->assign(handles.begin(), handles.end());
}

void CloseUnclaimedHandles() {
  std::lock_guard<std::mutex> lock(mu);
  if (claimable == nullptr) return;
  for (platform::NativeHandle h : *claimable) {
    platform::ScopedHandle owned(h);  // closes it
  }
  claimable->clear();
}

}  // namespace ipc_internal
}  // namespace mp
