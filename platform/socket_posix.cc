#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bsd_socket.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/socket.h"

namespace mp::platform {
namespace {

bool IsAbstract(absl::string_view a) {
  return !a.empty() && (a[0] == '\0' || a[0] == '@');
}

// A path gets its terminating zero; an abstract name its leading one. Both
// take one byte of sun_path besides the name.
absl::StatusOr<sockaddr_un> UnixAddress(absl::string_view a, socklen_t* len) {
  sockaddr_un sun = {};
  sun.sun_family = AF_UNIX;
  const bool abstract = IsAbstract(a);
  const absl::string_view name = abstract ? a.substr(1) : a;
  if (name.empty() || name.size() + 1 > sizeof(sun.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad Unix socket address '", a, "'"));
  }
  std::memcpy(sun.sun_path + (abstract ? 1 : 0), name.data(), name.size());
  *len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return sun;
}

}  // namespace

absl::StatusOr<BoundSocket> Listen(absl::string_view address, int backlog,
                                   int unix_socket_mode) {
  if (bsd_socket::IsTcpAddress(address)) {
    return bsd_socket::ListenTcp(address, backlog);
  }
  socklen_t len;
  absl::StatusOr<sockaddr_un> sun = UnixAddress(address, &len);
  if (!sun.ok()) return sun.status();
  ScopedHandle s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.is_valid()) return LastNativeError("socket");
  if (::bind(static_cast<int>(s.get()), reinterpret_cast<sockaddr*>(&*sun),
             len) != 0) {
    return LastNativeError(absl::StrCat("bind ", address));
  }
  // Until listen() nobody can connect, so the mode is in place first.
  if (!IsAbstract(address) &&
      ::chmod(std::string(address).c_str(),
              static_cast<mode_t>(unix_socket_mode)) != 0) {
    absl::Status chmod = LastNativeError(absl::StrCat("chmod ", address));
    ::unlink(std::string(address).c_str());
    return chmod;
  }
  if (::listen(static_cast<int>(s.get()), bsd_socket::BacklogOrMax(backlog)) !=
      0) {
    return LastNativeError("listen");
  }
  return BoundSocket{std::move(s), std::string(address)};
}

absl::StatusOr<BoundSocket> Accept(BoundSocket& listener) {
  return bsd_socket::Accept(listener);  // TCP and Unix alike
}

absl::StatusOr<ScopedHandle> Connect(absl::string_view address) {
  if (bsd_socket::IsTcpAddress(address)) {
    return bsd_socket::ConnectTcp(address);
  }
  socklen_t len;
  absl::StatusOr<sockaddr_un> sun = UnixAddress(address, &len);
  if (!sun.ok()) return sun.status();
  ScopedHandle s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.is_valid()) return LastNativeError("socket");
  if (absl::Status c = bsd_socket::ConnectTo(s.get(), &*sun, len, address);
      !c.ok()) {
    return c;
  }
  return s;
}

absl::Status RemoveSocketFile(absl::string_view address) {
  if (IsAbstract(address) || bsd_socket::IsTcpAddress(address)) {
    return absl::OkStatus();
  }
  if (::unlink(std::string(address).c_str()) != 0 && errno != ENOENT) {
    return LastNativeError(absl::StrCat("unlink ", address));
  }
  return absl::OkStatus();
}

}  // namespace mp::platform
