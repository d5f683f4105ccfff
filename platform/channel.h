// Byte-stream channels between processes and blocking I/O on them.
//
// POSIX: a duplex channel is socketpair(AF_UNIX, SOCK_STREAM); a one-way
// channel is pipe2(). Every descriptor is created close-on-exec. Writes never
// raise SIGPIPE: writing to a channel whose peer is gone is an error Status.
#ifndef MULTIPROCESSING_PLATFORM_CHANNEL_H_
#define MULTIPROCESSING_PLATFORM_CHANNEL_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "multiprocessing/platform/handle.h"

namespace mp::platform {

struct ChannelPair {
  ScopedHandle first;
  ScopedHandle second;
};

// Both ends read and write.
[[nodiscard]] absl::StatusOr<ChannelPair> CreateDuplexChannel();

// `first` can only read, `second` can only write.
[[nodiscard]] absl::StatusOr<ChannelPair> CreateOneWayChannel();

struct ConstBuffer {
  const void* data;
  std::size_t size;
};

// Writes every byte of every buffer in order, as few system calls as the
// kernel allows (one for a small message), retrying after signals and
// partial writes. A peer that is gone yields an error, never SIGPIPE.
[[nodiscard]] absl::Status WriteAll(NativeHandle h,
                                    absl::Span<const ConstBuffer> buffers);

// Reads at most `size` bytes; returns 0 only at end of stream (a peer that
// reset the connection counts as ended: IsEndOfStreamError). Retries after
// signals.
[[nodiscard]] absl::StatusOr<std::size_t> ReadSome(NativeHandle h, void* buffer,
                                                   std::size_t size);

// Ends what `h` (an end of a duplex channel) sends: the other end reads end
// of stream once it has read what was written. POSIX: shutdown(SHUT_WR),
// and `h` stays open for reading. Windows pipes cannot half-close: `h` is
// closed, so what the other end writes afterwards fails.
[[nodiscard]] absl::Status CloseForWriting(ScopedHandle& h);

// Reads from `h` (a duplex channel end or a connected Listener socket) fail
// with a timeout error (mp::IsTimeout) once `timeout` passes without data;
// nullopt: block forever again. On Windows the timeout is kept by handle
// value: set nullopt before closing the handle.
[[nodiscard]] absl::Status SetReceiveTimeout(
    NativeHandle h, std::optional<absl::Duration> timeout);

// Reads until `size` bytes arrived or the stream ended; returns how many
// bytes were read (less than `size` only at end of stream).
[[nodiscard]] absl::StatusOr<std::size_t> ReadFull(NativeHandle h, void* buffer,
                                                   std::size_t size);
// The same over any stream whose reads are `read_some` (ReadSome's
// contract: 0 only at end of stream).
[[nodiscard]] absl::StatusOr<std::size_t> ReadFull(
    absl::FunctionRef<absl::StatusOr<std::size_t>(void*, std::size_t)>
        read_some,
    void* buffer, std::size_t size);

// When `h` is the second end of a duplex channel (CreateDuplexChannel, as
// the spawn start method passes its child): the id of the process that
// created the channel, or 0 when the system does not say (POSIX other than
// Linux). kInvalidArgument when `h` is anything else: a file, a terminal, a
// one-way pipe, another kind of socket, not open.
[[nodiscard]] absl::StatusOr<std::int64_t> DuplexChannelCreator(NativeHandle h);

// Whether a read that failed with `native_error` (errno, or GetLastError()
// on Windows) means the peer ended the stream; every read path here
// (ReadSome, ReadMessage, WaitReadable) reads those as end of stream.
// POSIX: ECONNRESET. Windows: ERROR_BROKEN_PIPE, ERROR_PIPE_NOT_CONNECTED,
// ERROR_NO_DATA (our pipes are PIPE_WAIT, where it means "the pipe is being
// closed"), ERROR_NETNAME_DELETED and ERROR_CONNECTION_ABORTED.
bool IsEndOfStreamError(int native_error);

// Message pipes: Windows named pipes of PIPE_TYPE_MESSAGE, as Listener and
// Client make them for \\.\pipe\ addresses (CPython's PipeListener and
// PipeClient do the same). One write is one message, so a Connection over
// one sends no length header. POSIX has none: always false there.
bool IsMessagePipe(NativeHandle h);

// Writes `buffers`, joined, as one message of a message pipe.
[[nodiscard]] absl::Status WriteMessage(NativeHandle h,
                                        absl::Span<const ConstBuffer> buffers);

// Reads the next message of a message pipe into `*out` (an empty message is
// a message); false when the stream ended before one (nothing in `*out`). A
// message longer than `limit` is kResourceExhausted as soon as its size is
// known, before room for its rest is allocated (its first bytes are then
// consumed: the caller closes the handle). The room it allocates is what
// the peer really wrote. The stream ending inside a message is kDataLoss.
// Honours SetReceiveTimeout. POSIX: kUnimplemented.
[[nodiscard]] absl::StatusOr<bool> ReadMessage(NativeHandle h, std::string* out,
                                               std::size_t limit);

}  // namespace mp::platform

#endif  // MULTIPROCESSING_PLATFORM_CHANNEL_H_
