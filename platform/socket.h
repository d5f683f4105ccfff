// Listening and connecting sockets for mp::Listener / mp::Client.
//
// Addresses are strings, Python's families in one spelling:
//   "/run/app.sock", "relative/path"   a Unix socket path (AF_UNIX)
//   "@name" or "\0name"                a Linux abstract Unix socket
//   "127.0.0.1:6000", "[::1]:0", "localhost:6000"
//                                      TCP over IPv4 or IPv6; port 0 picks a
//                                      free port (see the bound address)
// (Windows named pipes, "\\.\pipe\name", come with the Windows port.)
#ifndef MULTIPROCESSING_PLATFORM_SOCKET_H_
#define MULTIPROCESSING_PLATFORM_SOCKET_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "platform/handle.h"

namespace mp::platform {

struct BoundSocket {
  ScopedHandle handle;
  // The address as bound: TCP with the port the OS picked, numeric host.
  std::string address;
};

// Binds and listens. A Unix path that exists is an error (as in Python);
// the caller removes the file with RemoveSocketFile() when done.
absl::StatusOr<BoundSocket> Listen(absl::string_view address, int backlog);

// Waits for the next connection; `address` is the peer's ("" for an
// unnamed Unix peer).
absl::StatusOr<BoundSocket> Accept(NativeHandle listener);

absl::StatusOr<ScopedHandle> Connect(absl::string_view address);

// Reads from `socket` fail with a timeout error (mp::IsTimeout) once
// `timeout` passes without data; nullopt: block forever again.
absl::Status SetReceiveTimeout(NativeHandle socket,
                               std::optional<absl::Duration> timeout);

// Removes the file of a Unix socket path; nothing for other addresses.
absl::Status RemoveSocketFile(absl::string_view address);

}  // namespace mp::platform

#endif  // MULTIPROCESSING_PLATFORM_SOCKET_H_
