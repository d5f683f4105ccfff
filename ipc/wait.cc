#include "multiprocessing/ipc/wait.h"

#include "multiprocessing/platform/poll.h"

namespace mp {

absl::StatusOr<std::vector<std::size_t>> Wait(
    absl::Span<const Waitable> objects, std::optional<absl::Duration> timeout) {
  std::vector<platform::NativeHandle> handles;
  std::vector<std::size_t> owner;  // handles[i] belongs to objects[owner[i]]
  handles.reserve(objects.size());
  for (std::size_t i = 0; i < objects.size(); ++i) {
    const Waitable& w = objects[i];
    if (w.handle() == platform::kInvalidHandle) {
      return absl::FailedPreconditionError("Wait() on a closed object");
    }
    handles.push_back(w.handle());
    owner.push_back(i);
    for (platform::NativeHandle h : w.also()) {
      handles.push_back(h);
      owner.push_back(i);
    }
  }
  absl::StatusOr<std::vector<std::size_t>> ready =
      platform::WaitReadable(handles, timeout);
  if (!ready.ok() || handles.size() == objects.size()) return ready;
  std::vector<std::size_t> result;
  for (std::size_t r : *ready) {
    if (result.empty() || result.back() != owner[r]) {
      result.push_back(owner[r]);
    }
  }
  return result;
}

}  // namespace mp
