#include "multiprocessing/ipc/internal/large_item_channel.h"

#include <cstring>
#include <utility>

#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "multiprocessing/platform/message_channel.h"
#include "multiprocessing/platform/shared_memory.h"

namespace mp::ipc_internal {
namespace {

// A message's bytes: [ticket, size].
struct Header {
  uint64_t ticket;
  uint64_t size;
};

absl::Span<char> BytesOf(Header* header) {
  return absl::Span<char>(reinterpret_cast<char*>(header), sizeof *header);
}

}  // namespace

absl::StatusOr<LargeItem> StoreLargeItem(absl::string_view item) {
  absl::StatusOr<platform::ScopedHandle> memory =
      platform::CreateSharedMemory(item.size());
  if (!memory.ok()) return memory.status();
  absl::StatusOr<platform::SharedMapping> m =
      platform::MapSharedMemory(memory->get(), item.size());
  if (!m.ok()) return m.status();
  std::memcpy(m->data(), item.data(), item.size());
  return LargeItem{std::move(*memory), item.size()};
}

absl::StatusOr<std::string> LoadLargeItem(const LargeItem& item) {
  absl::StatusOr<platform::SharedMapping> mapping =
      platform::MapSharedMemory(item.memory.get(), item.size);
  if (!mapping.ok()) return mapping.status();
  return std::string(static_cast<const char*>(mapping->data()), item.size);
}

LargeItemChannel::LargeItemChannel(platform::ScopedHandle reader,
                                   platform::ScopedHandle writer)
    : reader_(std::move(reader)), writer_(std::move(writer)) {}

absl::StatusOr<bool> LargeItemChannel::TrySend(uint64_t ticket,
                                               const LargeItem& item) {
  const Header header{ticket, item.size};
  const platform::ConstBuffer parts[] = {{&header, sizeof header}};
  return platform::TrySendMessage(writer_.get(), parts, item.memory.get());
}

absl::StatusOr<std::optional<LargeItem>> LargeItemChannel::Take(
    uint64_t ticket) {
  for (;;) {
    Header header;
    absl::StatusOr<std::optional<std::size_t>> peeked =
        platform::PeekMessage(reader_.get(), BytesOf(&header));
    if (!peeked.ok()) return peeked.status();
    if (!peeked->has_value()) return std::nullopt;
    if (**peeked == sizeof header && header.ticket > ticket) {
      return std::nullopt;
    }
    absl::StatusOr<std::optional<platform::ReceivedMessage>> got =
        platform::ReceiveMessage(reader_.get(), BytesOf(&header), absl::Now());
    if (!got.ok() && got.status().code() != absl::StatusCode::kDataLoss) {
      return got.status();
    }
    if (got.ok() && !got->has_value()) return std::nullopt;
    if (got.ok() && (*got)->size == sizeof header && header.ticket == ticket) {
      if ((*got)->attachment_lost) {
        // Windows: its producer was killed (or cancelled its join) before
        // anyone took it. The item is gone; the next get goes on.
        return absl::DataLossError(
            "Queue.get: a large item was lost: its producer exited before "
            "it was taken");
      }
      if (!(*got)->attached.is_valid()) {
        return absl::DataLossError("Queue.get: item without its memory");
      }
      return LargeItem{std::move((*got)->attached), header.size};
    }
    // An older message (or a malformed one): dropped.
  }
}

bool LargeItemChannel::Holds(uint64_t last) {
  Header header;
  absl::StatusOr<std::optional<std::size_t>> peeked =
      platform::PeekMessage(reader_.get(), BytesOf(&header));
  // Messages leave in ticket order, so the oldest tells.
  return peeked.ok() && peeked->has_value() && **peeked == sizeof header &&
         header.ticket <= last;
}

}  // namespace mp::ipc_internal
