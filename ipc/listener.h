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
// std::nullopt means no handshake. See the README's "Security" section for
// what the key does and does not protect.
//
// Handshakes run concurrently: Accept() takes clients off the backlog while
// earlier handshakes are pending and returns the first client to finish
// its handshake. Each handshake has an absolute deadline, handshake_timeout()
// (20 s by default) after its client was accepted, however the client
// trickles its bytes; a silent or slow client costs one of
// max_pending_handshakes() slots (64 by default, like OpenSSH's MaxStartups)
// until then, never another client's time. While every slot is taken, new
// clients wait in the backlog. A client that fails the handshake (wrong key,
// garbage, deadline passed) costs one Accept() call an error, never the
// listener: call Accept() again. A client that hangs up before sending
// anything (a port scan, a Client() that retried) is dropped without one.
#ifndef MULTIPROCESSING_IPC_LISTENER_H_
#define MULTIPROCESSING_IPC_LISTENER_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "multiprocessing/ipc/auth.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/socket.h"

namespace mp {

inline constexpr absl::Duration kDefaultHandshakeTimeout = absl::Seconds(20);
inline constexpr std::size_t kDefaultMaxPendingHandshakes = 64;
// The system's largest backlog (SOMAXCONN), so a burst of clients is not
// dropped by the kernel (CPython's default is 1).
inline constexpr int kDefaultBacklog = platform::kMaxBacklog;

struct ListenerOptions {
  // A Unix socket path's file mode, set before the socket listens (so no
  // client can connect through a wider one). Ignored for other addresses.
  int unix_socket_mode = 0600;
  AuthOptions auth;  // require_sha256
};

struct ClientOptions {
  // The handshake's deadline, counted from when the connection is made.
  absl::Duration handshake_timeout = kDefaultHandshakeTimeout;
  // With a key the server speaks first. If it has said nothing this long
  // after the connection was made, the client connects again (the server
  // may never have seen the connection: a full TCP backlog drops the final
  // ACK and nothing resends it), waiting twice as long each time, until the
  // deadline. Zero: never.
  absl::Duration retry_silent_server = absl::Seconds(2);
  AuthOptions auth;  // require_sha256
};

class Listener {
 public:
  // Python's Listener(address, backlog=backlog, authkey=authkey).
  // backlog: kDefaultBacklog is the system's largest.
  [[nodiscard]] static absl::StatusOr<Listener> Create(
      absl::string_view address, int backlog = kDefaultBacklog,
      std::optional<std::string> authkey = std::nullopt,
      const ListenerOptions& options = {});

  // A closed listener, safe to use: Accept() is kFailedPrecondition,
  // Close() is OK, address() "", fileno() invalid, pending_handles() empty.
  // Make a real one with Create().
  Listener() = default;
  Listener(Listener&& other) noexcept;
  Listener& operator=(Listener&& other) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener();

  // accept(): the next client, after the handshake when there is a key:
  // the first of the pending ones to finish it (see above).
  [[nodiscard]] absl::StatusOr<Connection> Accept();

  // close(): stops listening and removes a Unix socket's file. Twice is
  // fine.
  [[nodiscard]] absl::Status Close();

  // The bound address (TCP: with the real port); "" once closed.
  const std::string& address() const { return socket_.address; }
  // The peer of the last accepted connection ("" for Unix sockets), or
  // nullopt before the first.
  const std::optional<std::string>& last_accepted() const {
    return last_accepted_;
  }
  // The handle to wait on (Wait). On Windows each Accept() changes it.
  platform::NativeHandle fileno() const { return socket_.handle.get(); }
  // The connections whose handshakes are pending: Wait() on a Listener
  // watches them too, so it wakes when one of them has something to say.
  std::vector<platform::NativeHandle> pending_handles() const;
  bool closed() const { return !socket_.handle.is_valid(); }

  absl::Duration handshake_timeout() const { return handshake_timeout_; }
  // Applies to clients accepted from now on.
  void set_handshake_timeout(absl::Duration d) { handshake_timeout_ = d; }
  std::size_t max_pending_handshakes() const { return max_pending_; }
  // At least 1.
  void set_max_pending_handshakes(std::size_t n) {
    max_pending_ = n > 0 ? n : 1;
  }
  std::size_t pending_handshakes() const { return pending_.size(); }

 private:
  struct Pending {
    Connection connection;
    Handshake handshake;
    absl::Time deadline;
    std::string peer;
  };
  // Takes the next client off the backlog and starts its handshake.
  [[nodiscard]] absl::Status StartHandshake();
  // Reads what pending_[i] sent; true when its handshake ended (`result`).
  bool Advance(std::size_t i, absl::StatusOr<Connection>* result);

  platform::BoundSocket socket_;
  std::optional<std::string> authkey_;
  std::optional<std::string> last_accepted_;
  absl::Duration handshake_timeout_ = kDefaultHandshakeTimeout;
  std::size_t max_pending_ = kDefaultMaxPendingHandshakes;
  AuthOptions auth_options_;
  std::vector<Pending> pending_;
};

// Python's Client(address, authkey=authkey). The handshake has
// options.handshake_timeout as its deadline, counted from the connection.
[[nodiscard]] absl::StatusOr<Connection> Client(
    absl::string_view address,
    std::optional<std::string> authkey = std::nullopt,
    const ClientOptions& options = {});

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_LISTENER_H_
