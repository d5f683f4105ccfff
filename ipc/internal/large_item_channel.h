// The large-item channel of a queue: items over kMaxRingItem bytes travel
// in shared memory of their own, whose handle goes through a kernel message
// channel (platform/message_channel.h) as a message [ticket, size], while
// the ring holds a record with the ticket (queue_core.cc).
//
// Tickets keep the channel and the ring in step. Producers take tickets in
// order from a counter in the queue's shared memory and send under the
// ring's lock, so the channel holds messages in ticket order. A consumer
// that meets a ticket in the ring takes the message with that ticket,
// dropping older ones: their producer died between sending and recording.
// A ticket with no message means a consumer died between taking the message
// and removing the record; that item is gone.
//
// Every method that sends or takes must be called under the ring's lock.
#ifndef MULTIPROCESSING_IPC_INTERNAL_LARGE_ITEM_CHANNEL_H_
#define MULTIPROCESSING_IPC_INTERNAL_LARGE_ITEM_CHANNEL_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "multiprocessing/platform/handle.h"

namespace mp::ipc_internal {

// Items up to this size are copied through the ring; larger ones take this
// channel.
inline constexpr std::size_t kMaxRingItem = 64 * 1024;

// An item's own shared memory, filled with its bytes.
struct LargeItem {
  platform::ScopedHandle memory;
  uint64_t size = 0;
};

// Copies `item` into shared memory of its own (done before taking the
// ring's lock: copying a large item is slow).
[[nodiscard]] absl::StatusOr<LargeItem> StoreLargeItem(absl::string_view item);

// The bytes of an item taken off the channel (done after releasing the
// ring's lock).
[[nodiscard]] absl::StatusOr<std::string> LoadLargeItem(const LargeItem& item);

class LargeItemChannel {
 public:
  // The two ends of one platform::CreateMessageChannel().
  LargeItemChannel(platform::ScopedHandle reader,
                   platform::ScopedHandle writer);

  // Sends `item`'s memory as the message with `ticket`; false (nothing
  // sent) while the channel is full.
  [[nodiscard]] absl::StatusOr<bool> TrySend(uint64_t ticket,
                                             const LargeItem& item);

  // Takes the message with `ticket` off the channel, dropping older ones;
  // nullopt when it is not there. kDataLoss when its memory is lost
  // (Windows: its producer exited before anyone took it).
  [[nodiscard]] absl::StatusOr<std::optional<LargeItem>> Take(uint64_t ticket);

  // Whether a message with a ticket up to `last` is still in the channel.
  bool Holds(uint64_t last);

  platform::NativeHandle reader() const { return reader_.get(); }
  platform::NativeHandle writer() const { return writer_.get(); }

 private:
  platform::ScopedHandle reader_;
  platform::ScopedHandle writer_;
};

}  // namespace mp::ipc_internal

#endif  // MULTIPROCESSING_IPC_INTERNAL_LARGE_ITEM_CHANNEL_H_
