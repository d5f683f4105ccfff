// TCP for socket_posix.cc and socket_win.cc: BSD sockets are the same calls
// on both (Winsock), so the TCP half of Listen/Accept/Connect is written
// once, here; the few differences are marked where they are.
#ifndef MULTIPROCESSING_PLATFORM_TCP_H_
#define MULTIPROCESSING_PLATFORM_TCP_H_

#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "platform/handle.h"
#include "platform/socket.h"

namespace mp::platform::tcp {

// "host:port" / "[v6]:port" -> host, port; nullopt when `address` is not
// one (a path, an abstract name, a pipe).
std::optional<std::pair<std::string, std::string>> SplitHostPort(
    absl::string_view address);

// The Listen/Accept/Connect of socket.h for TCP addresses. Sockets are
// created close-on-exec / non-inheritable; on Windows, for overlapped I/O.
absl::StatusOr<BoundSocket> Listen(absl::string_view address,
                                   const std::string& host,
                                   const std::string& port, int backlog);
absl::StatusOr<BoundSocket> Accept(BoundSocket& listener);
absl::StatusOr<ScopedHandle> Connect(absl::string_view address,
                                     const std::string& host,
                                     const std::string& port);

}  // namespace mp::platform::tcp

#endif  // MULTIPROCESSING_PLATFORM_TCP_H_
