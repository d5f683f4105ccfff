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
// reset the connection counts as ended). Retries after signals.
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

// When `h` is the second end of a duplex channel (CreateDuplexChannel, as
// the spawn start method passes its child): the id of the process that
// created the channel, or 0 when the system does not say (POSIX other than
// Linux). kInvalidArgument when `h` is anything else: a file, a terminal, a
// one-way pipe, another kind of socket, not open.
[[nodiscard]] absl::StatusOr<std::int64_t> DuplexChannelCreator(NativeHandle h);

}  // namespace mp::platform

#endif  // MULTIPROCESSING_PLATFORM_CHANNEL_H_
