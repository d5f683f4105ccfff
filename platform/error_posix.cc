#include <errno.h>

#include "multiprocessing/platform/error.h"

namespace mp::platform {

// The code and text of a native error; NativeError() (error.cc) adds the
// error type of a timeout.
absl::Status NativeStatus(int error_number, absl::string_view operation) {
  // absl::ErrnoToStatus maps the code (EBADF -> kFailedPrecondition, EMFILE
  // -> kResourceExhausted, ...) and appends strerror's text.
  return absl::ErrnoToStatus(error_number, operation);
}

absl::Status LastNativeError(absl::string_view operation) {
  return NativeError(errno, operation);
}

}  // namespace mp::platform
