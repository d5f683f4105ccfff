// A move-only owner of a native handle (a file descriptor on POSIX, a HANDLE
// on Windows), like Chromium's ScopedFD. Headers never include OS headers:
// the native value travels as an integer-sized NativeHandle.
#ifndef MULTIPROCESSING_PLATFORM_HANDLE_H_
#define MULTIPROCESSING_PLATFORM_HANDLE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mp::platform {

using NativeHandle = std::intptr_t;
inline constexpr NativeHandle kInvalidHandle = -1;

class ScopedHandle {
 public:
  ScopedHandle() = default;
  explicit ScopedHandle(NativeHandle h) : handle_(h) {}
  ScopedHandle(ScopedHandle&& other) noexcept : handle_(other.release()) {}
  ScopedHandle& operator=(ScopedHandle&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  ScopedHandle(const ScopedHandle&) = delete;
  ScopedHandle& operator=(const ScopedHandle&) = delete;
  ~ScopedHandle() { reset(); }

  bool is_valid() const { return handle_ != kInvalidHandle; }
  NativeHandle get() const { return handle_; }

  // Gives up ownership without closing.
  NativeHandle release() {
    NativeHandle h = handle_;
    handle_ = kInvalidHandle;
    return h;
  }

  // Closes the owned handle (errors ignored, as in a destructor) and takes
  // ownership of `h`.
  void reset(NativeHandle h = kInvalidHandle);

  // Closes the owned handle and reports the OS's verdict.
  [[nodiscard]] absl::Status Close();

 private:
  NativeHandle handle_ = kInvalidHandle;
};

// A new handle to the same object, created close-on-exec / non-inheritable.
[[nodiscard]] absl::StatusOr<ScopedHandle> Duplicate(NativeHandle h);

// Makes `h` inheritable by children that are given it (clears FD_CLOEXEC /
// sets HANDLE_FLAG_INHERIT), or not.
[[nodiscard]] absl::Status SetInheritable(NativeHandle h, bool inheritable);

// Whether a child would inherit `h` (FD_CLOEXEC clear / HANDLE_FLAG_INHERIT).
[[nodiscard]] absl::StatusOr<bool> IsInheritable(NativeHandle h);

// How many descriptors this process has open (for leak checks in tests).
[[nodiscard]] absl::StatusOr<int> CountOpenHandles();

}  // namespace mp::platform

#endif  // MULTIPROCESSING_PLATFORM_HANDLE_H_
