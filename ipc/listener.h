// mp::Listener and mp::Client: Python's multiprocessing.connection.Listener
// and Client, wire-compatible with CPython (framing and authkey handshake),
// so C++ and Python processes can serve each other.
//
//   mp::Listener listener =
//       mp::Listener::Create("127.0.0.1:0", /*backlog=*/16, "secret").value();
//   // another process:
//   mp::Connection c = mp::Client(address, "secret").value();
//
// Addresses are strings (see platform/socket.h): a Unix socket path, "@name"
// for Linux's abstract namespace, or TCP "host:port" / "[v6]:port"; port 0
// picks a free port, which address() then shows.
//
// authkey: with a key, Accept() and Client() run CPython's mutual
// challenge/response (ipc/auth.h); a wrong key is kPermissionDenied on both
// sides and the connection is closed. An empty key is a key (CPython 3.12+);
// std::nullopt means no handshake. The listener's side of the handshake has
// a deadline (handshake_timeout(), 20 s by default), so a client that says
// nothing cannot hold Accept() forever; a client that fails the handshake
// costs that Accept() call an error, never the listener: call Accept() again.
#ifndef MULTIPROCESSING_IPC_LISTENER_H_
#define MULTIPROCESSING_IPC_LISTENER_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ipc/connection.h"
#include "platform/handle.h"
#include "platform/socket.h"

namespace mp {

inline constexpr absl::Duration kDefaultHandshakeTimeout = absl::Seconds(20);

class Listener {
 public:
  // Python's Listener(address, backlog=backlog, authkey=authkey).
  static absl::StatusOr<Listener> Create(
      absl::string_view address, int backlog = 1,
      std::optional<std::string> authkey = std::nullopt);

  // A closed listener.
  Listener() = default;
  Listener(Listener&& other) noexcept;
  Listener& operator=(Listener&& other) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener();

  // accept(): the next client, after the handshake when there is a key.
  absl::StatusOr<Connection> Accept();

  // close(): stops listening and removes a Unix socket's file. Twice is
  // fine.
  absl::Status Close();

  // The bound address (TCP: with the real port); "" once closed.
  const std::string& address() const { return socket_.address; }
  // The peer of the last accepted connection ("" for Unix sockets), or
  // nullopt before the first.
  const std::optional<std::string>& last_accepted() const {
    return last_accepted_;
  }
  // The handle to wait on (Wait). On Windows each Accept() changes it.
  platform::NativeHandle fileno() const { return socket_.handle.get(); }
  bool closed() const { return !socket_.handle.is_valid(); }

  absl::Duration handshake_timeout() const { return handshake_timeout_; }
  void set_handshake_timeout(absl::Duration d) { handshake_timeout_ = d; }

 private:
  platform::BoundSocket socket_;
  std::optional<std::string> authkey_;
  std::optional<std::string> last_accepted_;
  absl::Duration handshake_timeout_ = kDefaultHandshakeTimeout;
};

// Python's Client(address, authkey=authkey). The handshake has
// kDefaultHandshakeTimeout as its deadline.
absl::StatusOr<Connection> Client(
    absl::string_view address,
    std::optional<std::string> authkey = std::nullopt);

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_LISTENER_H_
