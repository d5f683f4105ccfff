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
//
// Read-ahead. On a byte stream a receiving Connection reads up to
// kReadAheadSize bytes per system call into a buffer of its own (allocated
// on the first receive) and serves the messages it holds from there; a
// message larger than the buffer is read straight into its destination.
// Bytes received ahead belong to this object alone, so:
//  - a Connection whose buffer holds bytes cannot be passed to a Process
//    (the argument's encoding fails with kFailedPrecondition, and so does
//    Start()): they would be lost or read twice;
//  - a Connection that another process may read too (passed to a Process
//    by std::ref or pointer, in the parent that keeps it and in the child)
//    is "shared": it then reads exactly one message per receive, no byte
//    more, so several processes can take turns on it under a lock (as
//    Python's SimpleQueue does). A Connection moved into a Process by value
//    reads ahead in the child;
//  - two Connection objects over duplicates of one handle in one process
//    (one writes, a second one reads the replies) must both be MarkShared();
//  - code that reads the raw stream after messages were received (the
//    authentication handshake, ipc/auth.h) takes the bytes received ahead
//    first: TakeReceivedAhead().
#ifndef MULTIPROCESSING_IPC_CONNECTION_H_
#define MULTIPROCESSING_IPC_CONNECTION_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/ipc/errors.h"  // IsEof, BufferTooShortMessage
#include "multiprocessing/ipc/internal/shared_memory_stream.h"
#include "multiprocessing/platform/handle.h"

namespace mp {

// What carries a Pipe()'s bytes.
enum class Transport {
  // A socketpair (POSIX) or a pair of named pipes (Windows): what Python's
  // Pipe() uses.
  kKernel,
  // Rings in shared memory (ipc/internal/shared_memory_stream.h), waking
  // through the kernel only when an end sleeps: for messages between two
  // processes on one machine at memory speed. Same API and semantics, with
  // three differences: such a Connection cannot be shared (passed to a
  // Process by std::ref or pointer: kFailedPrecondition), only moved to one;
  // a peer killed without closing its end is seen by a receiver once the
  // ring is drained and by a sender once the ring is full (a closed end is
  // seen at once), as with a kernel buffer of kRingSize bytes; and each end
  // spins for up to SharedMemoryStream::kMaxSpin before it sleeps.
  kSharedMemory,
};

class Connection {
 public:
  // Largest message a Connection accepts unless told otherwise
  // (set_max_message_size). A length header above it is an error before
  // anything is allocated.
  static constexpr std::size_t kDefaultMaxMessageSize = std::size_t{1} << 32;
  // The read-ahead buffer of a receiving byte-stream Connection.
  static constexpr std::size_t kReadAheadSize = std::size_t{64} << 10;

  // A closed connection, safe to use: every send, receive and Poll() is
  // kFailedPrecondition, Close() is OK, readable() and writable() false.
  // Make real ones with mp::Pipe() or mp::Client() / Listener::Accept().
  Connection() = default;
  // Takes ownership of one end of a channel.
  Connection(platform::ScopedHandle handle, bool readable, bool writable);

  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
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
  // forever; zero or negative durations return at once. Bytes received
  // ahead count: then it is true at once, without a system call.
  [[nodiscard]] absl::StatusOr<bool> Poll(
      std::optional<absl::Duration> timeout = absl::ZeroDuration());

  // close(): closing twice is fine, as in Python.
  [[nodiscard]] absl::Status Close();

  // The handle. Because of read-ahead, its being readable is no longer the
  // only sign that a message waits: bytes_received_ahead() > 0 is the other
  // (select()/poll() on fileno() alone can wait for a message already here).
  // Poll() and mp::Wait() (ipc/wait.h) look at both.
  platform::NativeHandle fileno() const { return handle_.get(); }
  bool closed() const { return !handle_.is_valid(); }
  bool readable() const { return readable_; }
  bool writable() const { return writable_; }
  Transport transport() const {
    return shm_ ? Transport::kSharedMemory : Transport::kKernel;
  }

  std::size_t max_message_size() const { return max_message_size_; }
  void set_max_message_size(std::size_t n) { max_message_size_ = n; }

  // The capacity of the buffer Send<T>/Recv<T> reuse. Above 1 MiB it is
  // released once sent from, and before the next message is received.
  std::size_t reused_buffer_capacity() const { return scratch_.capacity(); }

  // Bytes received from the stream but not yet handed out (the start of the
  // next message or messages).
  std::size_t bytes_received_ahead() const { return read_end_ - read_pos_; }
  // The capacity of the read-ahead buffer: 0 before the first receive (and
  // always for shared connections and message pipes), else kReadAheadSize.
  std::size_t read_ahead_capacity() const {
    return read_buffer_ ? kReadAheadSize : 0;
  }
  // Whether another process may read this connection too (see above): then
  // each receive reads exactly one message. Set by passing the connection
  // to a Process by std::ref or pointer; never cleared.
  bool shared() const { return shared_; }
  // Moves up to `max` of the bytes received ahead to `dst`, as if read from
  // the stream now; returns how many.
  std::size_t TakeReceivedAhead(char* dst, std::size_t max);
  // Makes the connection shared. kFailedPrecondition (and nothing changes)
  // when bytes were received ahead already, or for a shared-memory
  // connection.
  [[nodiscard]] absl::Status MarkShared() const;

  // For mp::Wait(): whether a receive would not block now (bytes received
  // ahead, or in a shared-memory ring); if not, makes sure fileno() becomes
  // readable when one would not (a shared-memory connection raises its
  // wake-up flag). An error counts as ready: the receive reports it.
  bool ReadyOrArm() const;

 private:
  friend struct Codec<Connection>;
  friend struct ConnectionTestPeer;  // connection_test_util.h
  Connection(platform::ScopedHandle doorbell,
             std::unique_ptr<ipc_internal::SharedMemoryStream> shm,
             bool readable, bool writable);
  // The byte stream under the framing: the handle, or the shared memory.
  [[nodiscard]] absl::StatusOr<std::size_t> ReadSome(char* dst, std::size_t n);
  [[nodiscard]] absl::StatusOr<std::size_t> ReadFull(char* dst, std::size_t n);
  [[nodiscard]] absl::Status WriteAll(
      absl::Span<const platform::ConstBuffer> buffers);

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
  // Whether receives go through the read-ahead buffer.
  bool reads_ahead() const { return !message_pipe_ && !shared_; }
  // Read-ahead: makes at least `n` (<= kReadAheadSize) bytes available at
  // read_pos_; returns how many are (fewer only at end of stream).
  [[nodiscard]] absl::StatusOr<std::size_t> FillAtLeast(std::size_t n);
  // Drops the handle and what was received ahead.
  void ResetHandle();

  platform::ScopedHandle handle_;
  // Shared-memory transport: the stream, with handle_ as its doorbell
  // (declared after handle_, so it goes first: its closing rings it).
  std::unique_ptr<ipc_internal::SharedMemoryStream> shm_;
  bool readable_ = false;
  bool writable_ = false;
  // The handle is a message pipe: no length headers (IsMessagePipe).
  bool message_pipe_ = false;
  std::size_t max_message_size_ = kDefaultMaxMessageSize;
  std::string scratch_;  // reused by Send<T> / Recv<T>
  // Read-ahead: bytes [read_pos_, read_end_) of read_buffer_ are received
  // and not handed out yet.
  std::unique_ptr<char[]> read_buffer_;
  std::size_t read_pos_ = 0;
  std::size_t read_end_ = 0;
  // Another process may read the handle too (MarkShared). mutable: encoding
  // a const Connection as a kept Process argument marks it.
  mutable bool shared_ = false;
};

// Pipe(duplex): two connected Connections. With duplex = false the first can
// only receive and the second can only send. `transport`: see Transport.
[[nodiscard]] absl::StatusOr<std::pair<Connection, Connection>> Pipe(
    bool duplex = true, Transport transport = Transport::kKernel);

// A Connection as an argument of a Process: the child inherits its handle.
// Encoded as (index in the arguments' HandleTable, readable, writable,
// shared, shared memory), or None when closed; the last field is None for a
// kernel connection and (index of the memory's handle, which end) for a
// shared-memory one. In a message (no table) it is kInvalidArgument. A
// connection with bytes received ahead is kFailedPrecondition. Encoded
// where the sender keeps it (Encoder::kept_by_sender(): a std::ref or
// pointer argument) it becomes shared, in the sender and in the child (a
// shared-memory connection cannot be: kFailedPrecondition).
template <>
struct Codec<Connection> {
  static void Encode(const Connection& c, Encoder& e);
  [[nodiscard]] static absl::Status Decode(Decoder& d, Connection* c);
  // Internal: *c = end `side` of the shared-memory pair in `memory`.
  [[nodiscard]] static absl::Status Make(platform::ScopedHandle doorbell,
                                         platform::ScopedHandle memory,
                                         int side, bool readable, bool writable,
                                         Connection* c);
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
