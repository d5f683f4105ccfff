// Errors: the one place that maps Python's multiprocessing exceptions to
// absl::Status codes, and native error numbers to Status.
//
//   Python                          C++
//   EOFError (peer closed cleanly)  mp::IsEof(s)       kOutOfRange
//   OSError on a closed handle      kFailedPrecondition
//   recv_bytes over maxlength       kResourceExhausted (connection closed)
//   BufferTooShort                  kResourceExhausted (message kept)
//   queue.Empty / queue.Full        mp::IsEmpty(s) / mp::IsFull(s)
//   timeout expired                 mp::IsTimeout(s)   kDeadlineExceeded
//   ValueError                      kInvalidArgument
//   AuthenticationError             kPermissionDenied
//   truncated / corrupt frame       kDataLoss
#ifndef MULTIPROCESSING_PLATFORM_ERROR_H_
#define MULTIPROCESSING_PLATFORM_ERROR_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace mp {

// The peer closed its end and every message was read (Python's EOFError).
absl::Status EofError(absl::string_view what);
bool IsEof(const absl::Status& s);

// A blocking call gave up after its timeout.
absl::Status TimeoutError(absl::string_view what);
bool IsTimeout(const absl::Status& s);

// queue.Empty / queue.Full. Both are kUnavailable; the message tells them
// apart, so always test with these predicates.
absl::Status EmptyError(absl::string_view what);
bool IsEmpty(const absl::Status& s);
absl::Status FullError(absl::string_view what);
bool IsFull(const absl::Status& s);

namespace platform {

// Turns a native error number (errno on POSIX, GetLastError() on Windows)
// into a Status whose message names the operation and carries the system's
// text, e.g. "socketpair: Too many open files".
absl::Status NativeError(int error_number, absl::string_view operation);

// NativeError() of the calling thread's last error.
absl::Status LastNativeError(absl::string_view operation);

}  // namespace platform
}  // namespace mp

#endif  // MULTIPROCESSING_PLATFORM_ERROR_H_
