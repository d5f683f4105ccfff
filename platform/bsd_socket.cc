#include "bsd_socket.h"

#ifdef _WIN32
#include <windows.h>
#include <winsock2.h>
#include <ws2tcpip.h>

#include "multiprocessing/platform/win_util.h"
#else
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#endif

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "multiprocessing/platform/error.h"

namespace mp::platform::bsd_socket {
namespace {

// Where POSIX and Winsock differ.
#ifdef _WIN32
using SockLen = int;
SOCKET Fd(NativeHandle h) { return static_cast<SOCKET>(h); }

absl::Status StartSockets() {
  const int error = StartWinsock();
  return error == 0 ? absl::OkStatus() : NativeError(error, "WSAStartup");
}

NativeHandle NewSocket(int family, int type, int protocol) {
  return static_cast<NativeHandle>(
      WSASocketW(family, type, protocol, nullptr, 0,
                 WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT));
}

// accept(); the socket it makes is inheritable on some systems (Wine):
// made not.
NativeHandle AcceptSocket(NativeHandle listener, sockaddr* peer, SockLen* len) {
  const SOCKET s = ::accept(Fd(listener), peer, len);
  if (s == INVALID_SOCKET) return kInvalidHandle;
  SetHandleInformation(AsHandle(static_cast<NativeHandle>(s)),
                       HANDLE_FLAG_INHERIT, 0);
  return static_cast<NativeHandle>(s);
}

// A connection that died in the backlog is not the listener's error.
bool RetryAccept() { return WSAGetLastError() == WSAECONNRESET; }

const char* ResolveErrorText(int rc) { return gai_strerrorA(rc); }

// Winsock's connect() is not interrupted.
bool RetryConnect(bool* connected) { return false; }

// Windows' SO_REUSEADDR lets another socket take a port in use; its
// default already reuses a port whose connections linger in TIME_WAIT.
void AllowReuse(NativeHandle) {}
#else
using SockLen = socklen_t;
int Fd(NativeHandle h) { return static_cast<int>(h); }

absl::Status StartSockets() { return absl::OkStatus(); }

NativeHandle NewSocket(int family, int type, int protocol) {
  return ::socket(family, type | SOCK_CLOEXEC, protocol);
}

NativeHandle AcceptSocket(NativeHandle listener, sockaddr* peer, SockLen* len) {
  return ::accept4(Fd(listener), peer, len, SOCK_CLOEXEC);
}

bool RetryAccept() { return errno == EINTR || errno == ECONNABORTED; }

const char* ResolveErrorText(int rc) { return ::gai_strerror(rc); }

// After EINTR the connection goes on in the background; wait for it by
// connecting again (EALREADY, then EISCONN: done).
bool RetryConnect(bool* connected) {
  if (errno == EISCONN) *connected = true;
  return errno == EINTR || errno == EALREADY;
}

// A port whose old connections linger in TIME_WAIT can be listened on again.
void AllowReuse(NativeHandle s) {
  const int one = 1;
  ::setsockopt(Fd(s), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
}
#endif

// "host:port" / "[v6]:port" -> host, port; nullopt when `a` is not one.
std::optional<std::pair<std::string, std::string>> SplitHostPort(
    absl::string_view a) {
  if (a.empty() || a[0] == '\0' || a[0] == '@' ||
      a.find_first_of("/\\") != absl::string_view::npos) {
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
using AddrInfo = std::unique_ptr<addrinfo, AddrInfoDeleter>;

// The addresses of TCP `address` (IsTcpAddress).
absl::StatusOr<AddrInfo> Resolve(absl::string_view address, bool passive) {
  if (absl::Status s = StartSockets(); !s.ok()) return s;
  std::optional<std::pair<std::string, std::string>> host_port =
      SplitHostPort(address);
  if (!host_port) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a TCP address: '", address, "'"));
  }
  const auto& [host, port] = *host_port;
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* result = nullptr;
  const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(),
                               port.c_str(), &hints, &result);
  if (rc != 0) {
    return absl::NotFoundError(absl::StrCat("cannot resolve '", host, ":", port,
                                            "': ", ResolveErrorText(rc)));
  }
  return AddrInfo(result);
}

}  // namespace

bool IsTcpAddress(absl::string_view address) {
  return SplitHostPort(address).has_value();
}

int BacklogOrMax(int backlog) { return backlog < 0 ? SOMAXCONN : backlog; }

absl::StatusOr<BoundSocket> ListenTcp(absl::string_view address, int backlog) {
  absl::StatusOr<AddrInfo> ai = Resolve(address, /*passive=*/true);
  if (!ai.ok()) return ai.status();
  absl::Status last = absl::NotFoundError("no address to listen on");
  for (addrinfo* p = ai->get(); p != nullptr; p = p->ai_next) {
    ScopedHandle s(NewSocket(p->ai_family, p->ai_socktype, p->ai_protocol));
    if (!s.is_valid()) {
      last = LastNativeError("socket");
      continue;
    }
    AllowReuse(s.get());
    if (::bind(Fd(s.get()), p->ai_addr, static_cast<SockLen>(p->ai_addrlen)) !=
        0) {
      last = LastNativeError(absl::StrCat("bind ", address));
      continue;
    }
    if (::listen(Fd(s.get()), BacklogOrMax(backlog)) != 0) {
      last = LastNativeError("listen");
      continue;
    }
    sockaddr_storage bound = {};
    SockLen len = sizeof bound;
    ::getsockname(Fd(s.get()), reinterpret_cast<sockaddr*>(&bound), &len);
    return BoundSocket{std::move(s),
                       FormatInet(reinterpret_cast<sockaddr*>(&bound))};
  }
  return last;
}

absl::StatusOr<BoundSocket> Accept(BoundSocket& listener) {
  sockaddr_storage peer = {};
  for (;;) {
    SockLen len = sizeof peer;
    ScopedHandle s(AcceptSocket(listener.handle.get(),
                                reinterpret_cast<sockaddr*>(&peer), &len));
    if (s.is_valid()) {
      std::string address;
      if (peer.ss_family == AF_INET || peer.ss_family == AF_INET6) {
        address = FormatInet(reinterpret_cast<sockaddr*>(&peer));
      }
      return BoundSocket{std::move(s), std::move(address)};
    }
    if (!RetryAccept()) return LastNativeError("accept");
  }
}

absl::Status ConnectTo(NativeHandle s, const void* sockaddr, std::size_t size,
                       absl::string_view address) {
  for (;;) {
    if (::connect(Fd(s), static_cast<const struct sockaddr*>(sockaddr),
                  static_cast<SockLen>(size)) == 0) {
      return absl::OkStatus();
    }
    bool connected = false;
    if (!RetryConnect(&connected)) {
      if (connected) return absl::OkStatus();
      return LastNativeError(absl::StrCat("connect ", address));
    }
  }
}

absl::StatusOr<ScopedHandle> ConnectTcp(absl::string_view address) {
  absl::StatusOr<AddrInfo> ai = Resolve(address, /*passive=*/false);
  if (!ai.ok()) return ai.status();
  absl::Status last = absl::NotFoundError("no address to connect to");
  for (addrinfo* p = ai->get(); p != nullptr; p = p->ai_next) {
    ScopedHandle s(NewSocket(p->ai_family, p->ai_socktype, p->ai_protocol));
    if (!s.is_valid()) {
      last = LastNativeError("socket");
      continue;
    }
    last = ConnectTo(s.get(), p->ai_addr, p->ai_addrlen, address);
    if (last.ok()) return s;
  }
  return last;
}

}  // namespace mp::platform::bsd_socket
