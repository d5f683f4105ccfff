// Errors: how Python's exceptions are told apart in an absl::Status, the
// ones this layer raises (EOFError, timeouts), and native error numbers
// turned into Status. Users include ipc/errors.h, which includes this.
//
// One mechanism for every Python exception the library maps: the status has
// the code of the README's "Errors" table and a payload keyed by the
// exception's type URL (TypedError), which its predicate looks for (IsEof,
// IsTimeout here; IsEmpty, IsFull, BufferTooShortMessage and
// IsAuthenticationError in ipc/errors.h). Codes alone cannot do it:
// queue.Empty and queue.Full share one, and a message can be reworded.
#ifndef MULTIPROCESSING_PLATFORM_ERROR_H_
#define MULTIPROCESSING_PLATFORM_ERROR_H_

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"

namespace mp {

// The peer closed its end and every message was read (Python's EOFError):
// kOutOfRange.
[[nodiscard]] absl::Status EofError(absl::string_view what);
bool IsEof(const absl::Status& s);

// A blocking call gave up after its timeout: kDeadlineExceeded.
[[nodiscard]] absl::Status TimeoutError(absl::string_view what);
bool IsTimeout(const absl::Status& s);

namespace platform {

// A status with `code` and `message` that is Python's exception
// `type_url` ("type.multiprocessing/EOFError"), carrying `detail`.
[[nodiscard]] absl::Status TypedError(absl::StatusCode code,
                                      absl::string_view type_url,
                                      absl::string_view message,
                                      absl::Cord detail = absl::Cord());
// Whether `s` is Python's exception `type_url`.
bool HasErrorType(const absl::Status& s, absl::string_view type_url);

// Turns a native error number (errno on POSIX, GetLastError() on Windows)
// into a Status whose message names the operation and carries the system's
// text, e.g. "socketpair: Too many open files". A timeout is IsTimeout().
[[nodiscard]] absl::Status NativeError(int error_number,
                                       absl::string_view operation);

// NativeError() of the calling thread's last error.
[[nodiscard]] absl::Status LastNativeError(absl::string_view operation);

}  // namespace platform
}  // namespace mp

#endif  // MULTIPROCESSING_PLATFORM_ERROR_H_
