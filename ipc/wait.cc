#include "multiprocessing/ipc/wait.h"

#include <algorithm>
#include <iterator>

#include "multiprocessing/platform/poll.h"

namespace mp {

absl::StatusOr<std::vector<std::size_t>> Wait(
    absl::Span<const Waitable> objects, std::optional<absl::Duration> timeout) {
  std::vector<platform::NativeHandle> handles;
  std::vector<std::size_t> owner;  // handles[i] belongs to objects[owner[i]]
  std::vector<std::size_t> ready_now;  // in order
  handles.reserve(objects.size());
  for (std::size_t i = 0; i < objects.size(); ++i) {
    const Waitable& w = objects[i];
    if (w.handle() == platform::kInvalidHandle) {
      return absl::FailedPreconditionError("Wait() on a closed object");
    }
    if (w.ready_now()) ready_now.push_back(i);
    handles.push_back(w.handle());
    owner.push_back(i);
    for (platform::NativeHandle h : w.also()) {
      handles.push_back(h);
      owner.push_back(i);
    }
  }
  // Something is ready already: only look at what else is, without waiting.
  absl::StatusOr<std::vector<std::size_t>> ready = platform::WaitReadable(
      handles, ready_now.empty() ? timeout : absl::ZeroDuration());
  if (!ready.ok()) return ready;
  if (handles.size() == objects.size() && ready_now.empty()) return ready;
  std::vector<std::size_t> result;
  for (std::size_t r : *ready) {
    if (result.empty() || result.back() != owner[r]) {
      result.push_back(owner[r]);
    }
  }
  if (ready_now.empty()) return result;
  std::vector<std::size_t> merged;
  merged.reserve(result.size() + ready_now.size());
  std::set_union(result.begin(), result.end(), ready_now.begin(),
                 ready_now.end(), std::back_inserter(merged));
  return merged;
}

}  // namespace mp
