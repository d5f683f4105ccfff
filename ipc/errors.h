// Telling apart Python's exceptions: the predicates for those ipc/ raises,
// and (from platform/error.h, which says how they work) IsEof and
// IsTimeout. The codes are the README's "Errors" table.
#ifndef MULTIPROCESSING_IPC_ERRORS_H_
#define MULTIPROCESSING_IPC_ERRORS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "multiprocessing/platform/error.h"  // IsEof, IsTimeout

namespace mp {

// queue.Empty and queue.Full (both kUnavailable).
bool IsEmpty(const absl::Status& s);
bool IsFull(const absl::Status& s);

// The whole message a BufferTooShort error (kResourceExhausted, from
// Connection::RecvBytesInto) carries, or nullopt for any other status.
std::optional<std::string> BufferTooShortMessage(const absl::Status& status);

// AuthenticationError: a wrong authkey, either side (kPermissionDenied).
bool IsAuthenticationError(const absl::Status& s);

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_ERRORS_H_
