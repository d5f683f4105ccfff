// mp::Wait(): Python's multiprocessing.connection.wait(object_list, timeout).
//
//   std::vector<mp::Waitable> objects = {
//       conn_a, conn_b, listener, mp::Waitable(process.sentinel().value())};
//   absl::StatusOr<std::vector<std::size_t>> ready = mp::Wait(objects);
//
// Returns the indices of the objects that are ready: a Connection with a
// message (or end of stream) to read, a Listener with a client to accept, a
// process sentinel whose process has ended. Timeout as in Python: nullopt
// (None) waits until one is ready; zero or negative checks once; otherwise
// an empty result means the time ran out. Any number of objects (no 64- or
// FD_SETSIZE ceiling). A closed object is kFailedPrecondition. A Connection
// holding bytes it received ahead (Connection::bytes_received_ahead()), or a
// shared-memory one with bytes in its ring, is ready at once, whatever the
// timeout, with whatever else is ready then.
#ifndef MULTIPROCESSING_IPC_WAIT_H_
#define MULTIPROCESSING_IPC_WAIT_H_

#include <cstddef>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/ipc/listener.h"
#include "multiprocessing/platform/handle.h"

namespace mp {

// Something Wait() can watch: converts implicitly from a Connection or a
// Listener; a bare handle must be named, so no stray integer converts.
class Waitable {
 public:
  // Made from a Connection, it notes whether the Connection is ready
  // without a system call (Connection::ReadyOrArm()): make it just before
  // the Wait() call.
  Waitable(const Connection& c)  // NOLINT
      : handle_(c.fileno()), ready_now_(c.ReadyOrArm()) {}
  // A Listener is ready when a client waits to be accepted or one whose
  // handshake is pending has sent something (Accept() then advances it).
  Waitable(const Listener& l)  // NOLINT
      : handle_(l.fileno()), also_(l.pending_handles()) {}
  // A process sentinel (Process::sentinel()) or another readable handle.
  explicit Waitable(platform::NativeHandle h) : handle_(h) {}

  platform::NativeHandle handle() const { return handle_; }
  // Other handles whose readiness makes this object ready.
  const std::vector<platform::NativeHandle>& also() const { return also_; }
  // Ready without looking at any handle (a Connection's bytes received
  // ahead).
  bool ready_now() const { return ready_now_; }

 private:
  platform::NativeHandle handle_;
  std::vector<platform::NativeHandle> also_;
  bool ready_now_ = false;
};

[[nodiscard]] absl::StatusOr<std::vector<std::size_t>> Wait(
    absl::Span<const Waitable> objects,
    std::optional<absl::Duration> timeout = std::nullopt);

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_WAIT_H_
