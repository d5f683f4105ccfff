// mp::Connection and mp::Pipe(): Python's multiprocessing.connection.
//
// A Connection sends and receives whole messages over a byte stream, framed
// exactly as CPython frames them (a 4-byte big-endian signed length, or -1
// then an 8-byte length for payloads over 0x7fffffff), so a C++ process and
// a Python process can talk. Over a message pipe (platform::IsMessagePipe:
// the Windows named pipes of Listener/Client's \\.\pipe\ addresses) each
// message is one pipe message with no header, as CPython's PipeConnection
// sends it; every promise below holds there too. Messages never merge; empty
// messages are messages. Like Python's, a Connection is not safe to use from
// two threads at once; give each thread its own or lock around it.
#ifndef MULTIPROCESSING_IPC_CONNECTION_H_
#define MULTIPROCESSING_IPC_CONNECTION_H_

#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/ipc/errors.h"  // IsEof, BufferTooShortMessage
#include "multiprocessing/platform/handle.h"

namespace mp {

class Connection {
 public:
  // Largest message a Connection accepts unless told otherwise
  // (set_max_message_size). A length header above it is an error before
  // anything is allocated.
  static constexpr std::size_t kDefaultMaxMessageSize = std::size_t{1} << 32;

  // A closed connection, safe to use: every send, receive and Poll() is
  // kFailedPrecondition, Close() is OK, readable() and writable() false.
  // Make real ones with mp::Pipe() or mp::Client() / Listener::Accept().
  Connection() = default;
  // Takes ownership of one end of a channel.
  Connection(platform::ScopedHandle handle, bool readable, bool writable);

  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // send_bytes(buf, offset, size): sends data[offset, offset + size) as one
  // message; size defaults to the rest of `data`. Out of range:
  // kInvalidArgument.
  [[nodiscard]] absl::Status SendBytes(
      absl::string_view data, std::size_t offset = 0,
      std::optional<std::size_t> size = std::nullopt);

  // recv_bytes(maxlength): the next message. A message longer than
  // `maxlength` is kResourceExhausted and closes the connection (as in
  // Python, the stream cannot be resynchronised). End of stream between
  // messages: IsEof(). A message cut short: kDataLoss.
  [[nodiscard]] absl::StatusOr<std::string> RecvBytes(
      std::optional<std::size_t> maxlength = std::nullopt);

  // recv_bytes_into(buffer, offset): reads the next message into
  // buffer[offset...] and returns its size. A message that does not fit is
  // kResourceExhausted (Python's BufferTooShort) and is handed to the caller
  // whole through BufferTooShortMessage(status) (ipc/errors.h); the
  // connection stays usable.
  [[nodiscard]] absl::StatusOr<std::size_t> RecvBytesInto(
      absl::Span<char> buffer, std::size_t offset = 0);

  // send(obj) / recv(): a value pickled by the codec (ipc/codec.h), so a
  // Python peer's recv() / send() meet these. A value that cannot be sent
  // (a std::string that is not UTF-8, a Connection) is kInvalidArgument and
  // sends nothing; receiving a different type than was sent is
  // kInvalidArgument (the message is consumed).
  template <typename T>
  [[nodiscard]] absl::Status Send(const T& value);
  template <typename T>
  [[nodiscard]] absl::StatusOr<T> Recv();

  // poll(timeout): whether a message (or end of stream) is waiting. As in
  // Python, the default returns at once; std::nullopt (Python's None) waits
  // forever; zero or negative durations return at once.
  [[nodiscard]] absl::StatusOr<bool> Poll(
      std::optional<absl::Duration> timeout = absl::ZeroDuration());

  // close(): closing twice is fine, as in Python.
  [[nodiscard]] absl::Status Close();

  platform::NativeHandle fileno() const { return handle_.get(); }
  bool closed() const { return !handle_.is_valid(); }
  bool readable() const { return readable_; }
  bool writable() const { return writable_; }

  std::size_t max_message_size() const { return max_message_size_; }
  void set_max_message_size(std::size_t n) { max_message_size_ = n; }

  // The capacity of the buffer Send<T>/Recv<T> reuse. Above 1 MiB it is
  // released once sent from, and before the next message is received.
  std::size_t reused_buffer_capacity() const { return scratch_.capacity(); }

 private:
  [[nodiscard]] absl::Status CheckReadable() const;
  absl::Status CheckWritable() const;
  // Reads the next frame's length. IsEof() at a clean end of stream.
  [[nodiscard]] absl::StatusOr<std::size_t> RecvLength();
  absl::Status RecvPayload(char* dst, std::size_t n);
  [[nodiscard]] absl::Status RecvInto(std::string* out,
                                      std::optional<std::size_t> maxlength);
  // Reads a `length`-byte payload into `out`, which grows as bytes arrive.
  [[nodiscard]] absl::Status RecvGrowing(std::string* out, std::size_t length);
  void ReleaseLargeBuffer();
  [[nodiscard]] absl::Status SendFrame(absl::string_view payload);
  // Message pipes: the next message into `out`, refused (and the connection
  // closed) past `limit`; `which` names the limit in the error.
  [[nodiscard]] absl::Status RecvMessage(std::string* out, std::size_t limit,
                                         absl::string_view which);

  platform::ScopedHandle handle_;
  bool readable_ = false;
  bool writable_ = false;
  // The handle is a message pipe: no length headers (IsMessagePipe).
  bool message_pipe_ = false;
  std::size_t max_message_size_ = kDefaultMaxMessageSize;
  std::string scratch_;  // reused by Send<T> / Recv<T>
};

// Pipe(duplex): two connected Connections. With duplex = false the first can
// only receive and the second can only send.
[[nodiscard]] absl::StatusOr<std::pair<Connection, Connection>> Pipe(
    bool duplex = true);

// A Connection as an argument of a Process: the child inherits its handle.
// Encoded as (index in the arguments' HandleTable, readable, writable), or
// None when closed; in a message (no table) it is kInvalidArgument.
template <>
struct Codec<Connection> {
  static void Encode(const Connection& c, Encoder& e) {
    if (c.closed()) {
      e.WriteNone();
      return;
    }
    e.EncodeTuple(e.AddHandle(c.fileno()), c.readable(), c.writable());
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, Connection* c) {
    if (d.is_none()) {
      *c = Connection();
      return absl::OkStatus();
    }
    int64_t index = 0;
    bool readable = false;
    bool writable = false;
    if (absl::Status s = d.DecodeTuple(&index, &readable, &writable); !s.ok()) {
      return s;
    }
    absl::StatusOr<platform::ScopedHandle> owned = d.ClaimHandle(index);
    if (!owned.ok()) return owned.status();
    *c = Connection(std::move(*owned), readable, writable);
    return absl::OkStatus();
  }
};

template <typename T>
[[nodiscard]] absl::Status Connection::Send(const T& value) {
  scratch_.clear();
  if (absl::Status s = Encode(value, &scratch_); !s.ok()) return s;
  return SendFrame(scratch_);
}

template <typename T>
[[nodiscard]] absl::StatusOr<T> Connection::Recv() {
  if (absl::Status s = RecvInto(&scratch_, std::nullopt); !s.ok()) return s;
  return Decode<T>(scratch_);
}

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_CONNECTION_H_
