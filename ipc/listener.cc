#include "multiprocessing/ipc/listener.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "multiprocessing/ipc/auth.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/poll.h"
#include "multiprocessing/platform/socket.h"

namespace mp {
namespace {

// Sends what `handshake` has to say on `h`.
absl::Status Flush(platform::NativeHandle h, Handshake& handshake) {
  return SendHandshakeOutput(h, handshake);
}

std::string Peer(const std::string& address) {
  return address.empty() ? std::string("a client") : address;
}

}  // namespace

absl::StatusOr<Listener> Listener::Create(absl::string_view address,
                                          int backlog,
                                          std::optional<std::string> authkey,
                                          const ListenerOptions& options) {
  absl::StatusOr<platform::BoundSocket> bound =
      platform::Listen(address, backlog, options.unix_socket_mode);
  if (!bound.ok()) return bound.status();
  Listener listener;
  listener.socket_ = *std::move(bound);
  listener.authkey_ = std::move(authkey);
  listener.auth_options_ = options.auth;
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
    max_pending_ = other.max_pending_;
    auth_options_ = other.auth_options_;
    pending_ = std::exchange(other.pending_, {});
  }
  return *this;
}

Listener::~Listener() { Close().IgnoreError(); }

std::vector<platform::NativeHandle> Listener::pending_handles() const {
  std::vector<platform::NativeHandle> handles;
  handles.reserve(pending_.size());
  for (const Pending& p : pending_) handles.push_back(p.connection.fileno());
  return handles;
}

absl::Status Listener::StartHandshake() {
  absl::StatusOr<platform::BoundSocket> peer = platform::Accept(socket_);
  if (!peer.ok()) return peer.status();
  Pending p{
      Connection(std::move(peer->handle), /*readable=*/true, /*writable=*/true),
      Handshake(Handshake::Role::kServer, *authkey_, auth_options_),
      absl::Now() + handshake_timeout_, std::move(peer->address)};
  absl::Status s = p.handshake.Start();
  if (s.ok()) s = Flush(p.connection.fileno(), p.handshake);
  // A client gone before our challenge reached it is dropped quietly.
  if (s.ok()) pending_.push_back(std::move(p));
  return absl::OkStatus();
}

bool Listener::Advance(std::size_t i, absl::StatusOr<Connection>* result) {
  Pending& p = pending_[i];
  const platform::NativeHandle h = p.connection.fileno();
  const bool heard = p.handshake.heard_from_peer();
  absl::Status s = ReadHandshakeInput(h, p.handshake);
  // Hung up before saying anything (PeerClosed's end of stream).
  const bool quiet = !heard && IsEof(s);
  const absl::Status sent = Flush(h, p.handshake);
  if (s.ok()) s = sent;
  if (s.ok() && !p.handshake.done()) return false;
  Pending finished = std::move(p);
  pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
  if (quiet) return false;  // hung up before saying anything
  last_accepted_ = finished.peer;
  if (!s.ok()) {
    *result = s;
    return true;
  }
  *result = std::move(finished.connection);
  return true;
}

absl::StatusOr<Connection> Listener::Accept() {
  if (closed()) {
    return absl::FailedPreconditionError(
        "mp::Listener: closed (or default-constructed, not a listener; make "
        "one with mp::Listener::Create())");
  }
  if (!authkey_) {
    absl::StatusOr<platform::BoundSocket> peer = platform::Accept(socket_);
    if (!peer.ok()) return peer.status();
    last_accepted_ = std::move(peer->address);
    return Connection(std::move(peer->handle), /*readable=*/true,
                      /*writable=*/true);
  }
  for (;;) {
    // Handshakes past their deadline end first.
    const absl::Time now = absl::Now();
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      if (pending_[i].deadline > now) continue;
      Pending expired = std::move(pending_[i]);
      pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
      last_accepted_ = expired.peer;
      return TimeoutError(absl::StrCat(
          Peer(expired.peer), " did not finish the handshake within ",
          absl::FormatDuration(handshake_timeout_)));
    }
    std::vector<platform::NativeHandle> handles = pending_handles();
    const bool room = pending_.size() < max_pending_;
    if (room) handles.push_back(socket_.handle.get());
    std::optional<absl::Duration> timeout;
    for (const Pending& p : pending_) {
      timeout = std::min(timeout.value_or(absl::InfiniteDuration()),
                         p.deadline - now);
    }
    absl::StatusOr<std::vector<std::size_t>> ready =
        platform::WaitReadable(handles, timeout);
    if (!ready.ok()) return ready.status();
    // The pending handshakes first, the newest last, so removing one leaves
    // the indices of those still to look at as they were.
    const std::size_t pending = pending_.size();
    bool accept_new = false;
    for (auto it = ready->rbegin(); it != ready->rend(); ++it) {
      if (*it >= pending) {
        accept_new = true;
        continue;
      }
      absl::StatusOr<Connection> result;
      if (Advance(*it, &result)) return result;
    }
    if (accept_new) {
      if (absl::Status s = StartHandshake(); !s.ok()) return s;
    }
  }
}

absl::Status Listener::Close() {
  pending_.clear();
  if (closed()) return absl::OkStatus();
  absl::Status closed = socket_.handle.Close();
  absl::Status removed = platform::RemoveSocketFile(socket_.address);
  socket_.address.clear();
  return closed.ok() ? removed : closed;
}

absl::StatusOr<Connection> Client(absl::string_view address,
                                  std::optional<std::string> authkey,
                                  const ClientOptions& options) {
  absl::Duration retry = options.retry_silent_server;
  std::optional<absl::Time> deadline;
  for (;;) {
    absl::StatusOr<platform::ScopedHandle> socket = platform::Connect(address);
    if (!socket.ok()) return socket.status();
    Connection c(*std::move(socket), /*readable=*/true, /*writable=*/true);
    if (!authkey) return c;
    // The deadline counts from the first connection.
    if (!deadline) deadline = absl::Now() + options.handshake_timeout;
    if (retry > absl::ZeroDuration()) {
      const absl::Duration left = *deadline - absl::Now();
      const platform::NativeHandle h = c.fileno();
      absl::StatusOr<std::vector<std::size_t>> ready =
          platform::WaitReadable({&h, 1}, std::min(retry, left));
      if (!ready.ok()) return ready.status();
      if (ready->empty() && retry < left) {
        retry = retry * 2;
        continue;  // the server never answered: connect again
      }
    }
    Handshake handshake(Handshake::Role::kClient, *authkey, options.auth);
    if (absl::Status s = RunHandshake(c, handshake, *deadline); !s.ok()) {
      return s;
    }
    return c;
  }
}

}  // namespace mp
