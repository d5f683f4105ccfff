#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "platform/error.h"
#include "platform/socket.h"

namespace mp::platform {
namespace {

bool IsAbstract(absl::string_view a) {
  return !a.empty() && (a[0] == '\0' || a[0] == '@');
}

// "host:port" / "[v6]:port" -> host, port; nullopt when `a` is not one.
std::optional<std::pair<std::string, std::string>> SplitHostPort(
    absl::string_view a) {
  if (IsAbstract(a) || a.find('/') != absl::string_view::npos) {
    return std::nullopt;
  }
  const std::size_t colon = a.rfind(':');
  if (colon == absl::string_view::npos || colon + 1 == a.size()) {
    return std::nullopt;
  }
  int port;
  if (!absl::SimpleAtoi(a.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return std::nullopt;
  }
  absl::string_view host = a.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::make_pair(std::string(host), std::string(a.substr(colon + 1)));
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

std::string FormatInet(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = "";
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return absl::StrCat(host, ":", ntohs(in->sin_port));
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
  ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
  return absl::StrCat("[", host, "]:", ntohs(in6->sin6_port));
}

struct AddrInfoDeleter {
  void operator()(addrinfo* p) const { ::freeaddrinfo(p); }
};

absl::StatusOr<std::unique_ptr<addrinfo, AddrInfoDeleter>> Resolve(
    const std::string& host, const std::string& port, bool passive) {
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* result = nullptr;
  const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(),
                               port.c_str(), &hints, &result);
  if (rc != 0) {
    return absl::NotFoundError(absl::StrCat("cannot resolve '", host, ":", port,
                                            "': ", ::gai_strerror(rc)));
  }
  return std::unique_ptr<addrinfo, AddrInfoDeleter>(result);
}

}  // namespace

absl::StatusOr<BoundSocket> Listen(absl::string_view address, int backlog) {
  if (auto hp = SplitHostPort(address)) {
    auto ai = Resolve(hp->first, hp->second, /*passive=*/true);
    if (!ai.ok()) return ai.status();
    absl::Status last = absl::NotFoundError("no address to listen on");
    for (addrinfo* p = ai->get(); p != nullptr; p = p->ai_next) {
      ScopedHandle s(::socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC,
                              p->ai_protocol));
      if (!s.is_valid()) {
        last = LastNativeError("socket");
        continue;
      }
      const int one = 1;
      ::setsockopt(static_cast<int>(s.get()), SOL_SOCKET, SO_REUSEADDR, &one,
                   sizeof one);
      if (::bind(static_cast<int>(s.get()), p->ai_addr, p->ai_addrlen) != 0) {
        last = LastNativeError(absl::StrCat("bind ", address));
        continue;
      }
      if (::listen(static_cast<int>(s.get()), backlog) != 0) {
        last = LastNativeError("listen");
        continue;
      }
      sockaddr_storage bound = {};
      socklen_t len = sizeof bound;
      ::getsockname(static_cast<int>(s.get()),
                    reinterpret_cast<sockaddr*>(&bound), &len);
      return BoundSocket{std::move(s),
                         FormatInet(reinterpret_cast<sockaddr*>(&bound))};
    }
    return last;
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
  if (::listen(static_cast<int>(s.get()), backlog) != 0) {
    return LastNativeError("listen");
  }
  return BoundSocket{std::move(s), std::string(address)};
}

absl::StatusOr<BoundSocket> Accept(BoundSocket& listener) {
  sockaddr_storage peer = {};
  for (;;) {
    socklen_t len = sizeof peer;
    const int fd =
        ::accept4(static_cast<int>(listener.handle.get()),
                  reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd >= 0) {
      std::string address;
      if (peer.ss_family == AF_INET || peer.ss_family == AF_INET6) {
        address = FormatInet(reinterpret_cast<sockaddr*>(&peer));
      }
      return BoundSocket{ScopedHandle(fd), std::move(address)};
    }
    // A connection that died in the backlog is not the listener's error.
    if (errno == EINTR || errno == ECONNABORTED) continue;
    return LastNativeError("accept");
  }
}

absl::StatusOr<ScopedHandle> Connect(absl::string_view address) {
  auto connect = [&](ScopedHandle s, const sockaddr* sa,
                     socklen_t len) -> absl::StatusOr<ScopedHandle> {
    if (!s.is_valid()) return LastNativeError("socket");
    while (::connect(static_cast<int>(s.get()), sa, len) != 0) {
      // After EINTR the connection goes on in the background; wait for it
      // by connecting again (EALREADY / EISCONN).
      if (errno == EINTR || errno == EALREADY) continue;
      if (errno == EISCONN) break;
      return LastNativeError(absl::StrCat("connect ", address));
    }
    return s;
  };
  if (auto hp = SplitHostPort(address)) {
    auto ai = Resolve(hp->first, hp->second, /*passive=*/false);
    if (!ai.ok()) return ai.status();
    absl::Status last = absl::NotFoundError("no address to connect to");
    for (addrinfo* p = ai->get(); p != nullptr; p = p->ai_next) {
      absl::StatusOr<ScopedHandle> s = connect(
          ScopedHandle(::socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC,
                                p->ai_protocol)),
          p->ai_addr, p->ai_addrlen);
      if (s.ok()) return s;
      last = s.status();
    }
    return last;
  }
  socklen_t len;
  absl::StatusOr<sockaddr_un> sun = UnixAddress(address, &len);
  if (!sun.ok()) return sun.status();
  return connect(ScopedHandle(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)),
                 reinterpret_cast<sockaddr*>(&*sun), len);
}

absl::Status RemoveSocketFile(absl::string_view address) {
  if (IsAbstract(address) || SplitHostPort(address)) return absl::OkStatus();
  if (::unlink(std::string(address).c_str()) != 0 && errno != ENOENT) {
    return LastNativeError(absl::StrCat("unlink ", address));
  }
  return absl::OkStatus();
}

}  // namespace mp::platform
