// The BSD socket calls for socket_posix.cc and socket_win.cc: they are the
// same on POSIX and under Winsock, so TCP (and the accept and connect loops
// that Unix sockets share) are written once, here; the few differences are
// marked where they are.
#ifndef MULTIPROCESSING_PLATFORM_BSD_SOCKET_H_
#define MULTIPROCESSING_PLATFORM_BSD_SOCKET_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/socket.h"

namespace mp::platform::bsd_socket {

// Whether `address` is "host:port" or "[v6]:port" (not a path, an abstract
// name or a pipe).
bool IsTcpAddress(absl::string_view address);

// `backlog`, or the system's largest (SOMAXCONN) for kMaxBacklog.
int BacklogOrMax(int backlog);

// socket.h's Listen and Connect for a TCP address. Sockets are created
// close-on-exec / non-inheritable; on Windows, for overlapped I/O.
[[nodiscard]] absl::StatusOr<BoundSocket> ListenTcp(absl::string_view address,
                                                    int backlog);
[[nodiscard]] absl::StatusOr<ScopedHandle> ConnectTcp(
    absl::string_view address);

// socket.h's Accept for any listening stream socket (TCP or Unix); the
// peer's address is set for TCP, "" otherwise.
[[nodiscard]] absl::StatusOr<BoundSocket> Accept(BoundSocket& listener);

// Connects socket `s` to the `size`-byte sockaddr at `sockaddr`, going on
// after an interruption (POSIX); `address` names it in errors.
[[nodiscard]] absl::Status ConnectTo(NativeHandle s, const void* sockaddr,
                                     std::size_t size,
                                     absl::string_view address);

}  // namespace mp::platform::bsd_socket

#endif  // MULTIPROCESSING_PLATFORM_BSD_SOCKET_H_
