#include "ipc/wait.h"

#include "platform/poll.h"

namespace mp {

absl::StatusOr<std::vector<std::size_t>> Wait(
    absl::Span<const Waitable> objects, std::optional<absl::Duration> timeout) {
  std::vector<platform::NativeHandle> handles;
  handles.reserve(objects.size());
  for (const Waitable& w : objects) {
    if (w.handle() == platform::kInvalidHandle) {
      return absl::FailedPreconditionError("Wait() on a closed object");
    }
    handles.push_back(w.handle());
  }
  return platform::WaitReadable(handles, timeout);
}

}  // namespace mp
