#include "ipc/listener.h"

#include <utility>

#include "ipc/auth.h"
#include "platform/channel.h"
#include "platform/socket.h"

namespace mp {
namespace {

// Runs `handshake` on `c` with `timeout` as the deadline of every read.
template <typename F>
absl::Status WithDeadline(Connection& c, absl::Duration timeout, F handshake) {
  if (absl::Status s = platform::SetReceiveTimeout(c.fileno(), timeout);
      !s.ok()) {
    return s;
  }
  absl::Status result = handshake();
  if (!result.ok()) {
    c.Close().IgnoreError();
    return result;
  }
  return platform::SetReceiveTimeout(c.fileno(), std::nullopt);
}

}  // namespace

absl::StatusOr<Listener> Listener::Create(absl::string_view address,
                                          int backlog,
                                          std::optional<std::string> authkey) {
  absl::StatusOr<platform::BoundSocket> bound =
      platform::Listen(address, backlog);
  if (!bound.ok()) return bound.status();
  Listener listener;
  listener.socket_ = *std::move(bound);
  listener.authkey_ = std::move(authkey);
  return listener;
}

Listener::Listener(Listener&& other) noexcept { *this = std::move(other); }

Listener& Listener::operator=(Listener&& other) noexcept {
  if (this != &other) {
    Close().IgnoreError();
    socket_.handle = std::move(other.socket_.handle);
    socket_.address = std::exchange(other.socket_.address, std::string());
    authkey_ = std::move(other.authkey_);
    last_accepted_ = std::move(other.last_accepted_);
    handshake_timeout_ = other.handshake_timeout_;
  }
  return *this;
}

Listener::~Listener() { Close().IgnoreError(); }

absl::StatusOr<Connection> Listener::Accept() {
  if (closed()) return absl::FailedPreconditionError("listener is closed");
  absl::StatusOr<platform::BoundSocket> peer = platform::Accept(socket_);
  if (!peer.ok()) return peer.status();
  last_accepted_ = std::move(peer->address);
  Connection c(std::move(peer->handle), /*readable=*/true, /*writable=*/true);
  if (authkey_) {
    absl::Status s = WithDeadline(c, handshake_timeout_, [&] {
      absl::Status d = DeliverChallenge(c, *authkey_);
      return d.ok() ? AnswerChallenge(c, *authkey_) : d;
    });
    if (!s.ok()) return s;
  }
  return c;
}

absl::Status Listener::Close() {
  if (closed()) return absl::OkStatus();
  absl::Status closed = socket_.handle.Close();
  absl::Status removed = platform::RemoveSocketFile(socket_.address);
  socket_.address.clear();
  return closed.ok() ? removed : closed;
}

absl::StatusOr<Connection> Client(absl::string_view address,
                                  std::optional<std::string> authkey) {
  absl::StatusOr<platform::ScopedHandle> socket = platform::Connect(address);
  if (!socket.ok()) return socket.status();
  Connection c(*std::move(socket), /*readable=*/true, /*writable=*/true);
  if (authkey) {
    absl::Status s = WithDeadline(c, kDefaultHandshakeTimeout, [&] {
      absl::Status a = AnswerChallenge(c, *authkey);
      return a.ok() ? DeliverChallenge(c, *authkey) : a;
    });
    if (!s.ok()) return s;
  }
  return c;
}

}  // namespace mp
