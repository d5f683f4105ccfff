// Listening and connecting sockets for mp::Listener / mp::Client.
//
// Addresses are strings, Python's families in one spelling:
//   "/run/app.sock", "relative/path"   a Unix socket path (AF_UNIX)
//   "@name" or "\0name"                a Linux abstract Unix socket
//   "127.0.0.1:6000", "[::1]:0", "localhost:6000"
//                                      TCP over IPv4 or IPv6; port 0 picks a
//                                      free port (see the bound address)
//   "\\.\pipe\name"                    a Windows named pipe (Python's
//                                      AF_PIPE)
// Windows takes pipes and TCP; a Unix socket address there is
// kUnimplemented, as Python's multiprocessing has no AF_UNIX on Windows.
#ifndef MULTIPROCESSING_PLATFORM_SOCKET_H_
#define MULTIPROCESSING_PLATFORM_SOCKET_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "multiprocessing/platform/handle.h"

namespace mp::platform {

struct BoundSocket {
  ScopedHandle handle;
  // The address as bound: TCP with the port the OS picked, numeric host.
  std::string address;
};

// A backlog that asks for the system's largest (SOMAXCONN).
inline constexpr int kMaxBacklog = -1;

// Binds and listens (backlog: a count, or kMaxBacklog). A Unix path that
// exists is an error (as in Python); its file gets `unix_socket_mode`
// before the socket listens, so no client connects through a wider mode
// (the umask can only narrow it further); the caller removes the file with
// RemoveSocketFile() when done. Abstract names have no mode: every local
// user can connect to them.
[[nodiscard]] absl::StatusOr<BoundSocket> Listen(absl::string_view address,
                                                 int backlog,
                                                 int unix_socket_mode = 0600);

// Waits for the next connection; `address` is the peer's ("" for an
// unnamed Unix peer and for a pipe). On Windows the connected pipe instance
// is the one `listener` held, and `listener` gets the next instance (a new
// handle).
[[nodiscard]] absl::StatusOr<BoundSocket> Accept(BoundSocket& listener);

[[nodiscard]] absl::StatusOr<ScopedHandle> Connect(absl::string_view address);

// Removes the file of a Unix socket path; nothing for other addresses.
[[nodiscard]] absl::Status RemoveSocketFile(absl::string_view address);

}  // namespace mp::platform

#endif  // MULTIPROCESSING_PLATFORM_SOCKET_H_
