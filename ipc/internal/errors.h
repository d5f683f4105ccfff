// The errors ipc/ raises, which ipc/errors.h's predicates recognise.
#ifndef MULTIPROCESSING_IPC_INTERNAL_ERRORS_H_
#define MULTIPROCESSING_IPC_INTERNAL_ERRORS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace mp::ipc_internal {

// "queue.Empty: <what>" / "queue.Full: <what>".
[[nodiscard]] absl::Status EmptyError(absl::string_view what);
absl::Status FullError(absl::string_view what);
// `message` is the whole message that did not fit.
[[nodiscard]] absl::Status BufferTooShortError(absl::string_view what,
                                               std::string message);
[[nodiscard]] absl::Status AuthenticationError(absl::string_view what);

}  // namespace mp::ipc_internal

#endif  // MULTIPROCESSING_IPC_INTERNAL_ERRORS_H_
