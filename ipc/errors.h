// The Python exceptions ipc/ raises, told apart as platform/error.h says
// (a payload per exception type, tested by these predicates; the codes are
// the README's "Errors" table).
#ifndef MULTIPROCESSING_IPC_ERRORS_H_
#define MULTIPROCESSING_IPC_ERRORS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "platform/error.h"  // IsEof, IsTimeout

namespace mp {

// queue.Empty and queue.Full: kUnavailable.
absl::Status EmptyError(absl::string_view what);
bool IsEmpty(const absl::Status& s);
absl::Status FullError(absl::string_view what);
bool IsFull(const absl::Status& s);

// BufferTooShort (Connection::RecvBytesInto): kResourceExhausted, carrying
// the whole message.
absl::Status BufferTooShortError(absl::string_view what, std::string message);
// The message a BufferTooShort error carries, or nullopt for any other
// status.
std::optional<std::string> BufferTooShortMessage(const absl::Status& status);

// AuthenticationError (a wrong authkey): kPermissionDenied.
absl::Status AuthenticationError(absl::string_view what);
bool IsAuthenticationError(const absl::Status& s);

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_ERRORS_H_
