#include <poll.h>

#include <cerrno>
#include <climits>

#include "absl/strings/str_cat.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/poll.h"

namespace mp::platform {

absl::StatusOr<std::vector<std::size_t>> WaitReadable(
    absl::Span<const NativeHandle> handles,
    std::optional<absl::Duration> timeout) {
  std::vector<pollfd> fds(handles.size());
  for (std::size_t i = 0; i < handles.size(); ++i) {
    fds[i].fd = static_cast<int>(handles[i]);
    fds[i].events = POLLIN;
  }
  const absl::Time deadline =
      timeout ? absl::Now() + *timeout : absl::InfiniteFuture();
  for (;;) {
    int ms = -1;
    if (timeout) {
      const absl::Duration left = deadline - absl::Now();
      // Round up, so a wait never ends before its deadline.
      ms = left <= absl::ZeroDuration()
               ? 0
               : static_cast<int>(std::min<int64_t>(
                     absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
                     INT_MAX));
    }
    int r = ::poll(fds.data(), fds.size(), ms);
    if (r < 0) {
      if (errno == EINTR) continue;
      return LastNativeError("poll");
    }
    std::vector<std::size_t> ready;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents & POLLNVAL) {
        return absl::FailedPreconditionError(
            absl::StrCat("poll: handle ", handles[i], " is not open"));
      }
      if (fds[i].revents != 0) ready.push_back(i);
    }
    if (!ready.empty() || ms == 0) return ready;
    // ms > 0 and nothing ready: the timeout may have ended early or exactly.
    if (absl::Now() >= deadline) return ready;
  }
}

}  // namespace mp::platform
