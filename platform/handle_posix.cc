#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/handle.h"

namespace mp::platform {

void ScopedHandle::reset(NativeHandle h) {
  if (is_valid()) {
    // Linux closes the descriptor even when close() reports EINTR; retrying
    // could close a descriptor another thread just opened.
    ::close(static_cast<int>(handle_));
  }
  handle_ = h;
}

absl::Status ScopedHandle::Close() {
  if (!is_valid()) return absl::FailedPreconditionError("close: not open");
  int fd = static_cast<int>(release());
  if (::close(fd) != 0 && errno != EINTR) return LastNativeError("close");
  return absl::OkStatus();
}

absl::StatusOr<ScopedHandle> Duplicate(NativeHandle h) {
  int fd = ::fcntl(static_cast<int>(h), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return LastNativeError("fcntl(F_DUPFD_CLOEXEC)");
  return ScopedHandle(fd);
}

absl::Status SetInheritable(NativeHandle h, bool inheritable) {
  int fd = static_cast<int>(h);
  int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0) return LastNativeError("fcntl(F_GETFD)");
  flags = inheritable ? (flags & ~FD_CLOEXEC) : (flags | FD_CLOEXEC);
  if (::fcntl(fd, F_SETFD, flags) != 0)
    return LastNativeError("fcntl(F_SETFD)");
  return absl::OkStatus();
}

absl::StatusOr<bool> IsInheritable(NativeHandle h) {
  const int flags = ::fcntl(static_cast<int>(h), F_GETFD);
  if (flags < 0) return LastNativeError("fcntl(F_GETFD)");
  return (flags & FD_CLOEXEC) == 0;
}

absl::StatusOr<int> CountOpenHandles() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) dir = ::opendir("/dev/fd");
  if (dir == nullptr) return LastNativeError("opendir(/proc/self/fd)");
  int count = 0;
  while (struct dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - 1;  // the directory's own descriptor
}

}  // namespace mp::platform
