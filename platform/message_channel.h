// Message channels: whole messages between any number of writers and
// readers in any number of processes, with no lock to share.
//
// POSIX: socketpair(AF_UNIX, SOCK_SEQPACKET). The kernel queues each message
// whole and hands it whole to exactly one reader, so writers need no write
// lock and readers no read lock, and a process killed in the middle of a send
// or a receive cannot leave a half message or a held lock behind. A message
// may carry one handle (SCM_RIGHTS), which is how payloads larger than
// kMaxInlineMessage travel: in shared memory whose handle rides along.
//
// Windows (message_channel_win.cc): a message-mode named pipe. Messages stay
// whole, but a handle cannot travel in a pipe: the sender keeps a duplicate
// that the receiver takes out of it, so an attached handle can be received
// only while its sender is alive (AttachmentsOutliveSender() is false).
// Waiting to receive is an overlapped read that the arriving message
// completes; a blocking send that finds the pipe full tries again after
// pauses of 1 to 16 ms (nothing tells a writer that room was made).
#ifndef MULTIPROCESSING_PLATFORM_MESSAGE_CHANNEL_H_
#define MULTIPROCESSING_PLATFORM_MESSAGE_CHANNEL_H_

#include <cstddef>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/handle.h"

namespace mp::platform {

// The largest message SendMessage accepts (the kernel's socket buffer
// bounds it); larger payloads go in shared memory.
inline constexpr std::size_t kMaxInlineMessage = 64 * 1024;

// Messages written to `second` are read from `first`; both ends are
// close-on-exec.
[[nodiscard]] absl::StatusOr<ChannelPair> CreateMessageChannel();

// Sends one message of at most kMaxInlineMessage bytes (the concatenated
// parts) and, if valid, a duplicate of `attached`. Blocks while the channel
// is full; retries after signals.
[[nodiscard]] absl::Status SendMessage(NativeHandle h,
                                       absl::Span<const ConstBuffer> parts,
                                       NativeHandle attached = kInvalidHandle);

// SendMessage that never blocks: false (and nothing sent) while the channel
// is full.
[[nodiscard]] absl::StatusOr<bool> TrySendMessage(
    NativeHandle h, absl::Span<const ConstBuffer> parts,
    NativeHandle attached = kInvalidHandle);

// Copies the start of the next message into `buffer` without taking the
// message off the channel; returns how many bytes it copied, or nullopt when
// no message is waiting. Never blocks.
[[nodiscard]] absl::StatusOr<std::optional<std::size_t>> PeekMessage(
    NativeHandle h, absl::Span<char> buffer);

struct ReceivedMessage {
  std::size_t size = 0;  // bytes written to the buffer
  ScopedHandle attached;
  // A handle was attached, but its sender exited before it was received
  // (never on POSIX).
  bool attachment_lost = false;
};

// Whether a handle attached to a message can still be received after its
// sender exits (POSIX: yes, the kernel holds it in the channel; Windows: no).
bool AttachmentsOutliveSender();

// Receives one message into `buffer` (at least kMaxInlineMessage bytes).
// With a deadline: nullopt when none arrived before it (other readers may
// take a message this reader saw arrive, so it waits again). Without one:
// blocks. Retries after signals.
[[nodiscard]] absl::StatusOr<std::optional<ReceivedMessage>> ReceiveMessage(
    NativeHandle h, absl::Span<char> buffer,
    std::optional<absl::Time> deadline);

}  // namespace mp::platform

#endif  // MULTIPROCESSING_PLATFORM_MESSAGE_CHANNEL_H_
