// What the fuzz targets share: feeding a peer's bytes to a Connection.
#ifndef MULTIPROCESSING_FUZZ_FUZZ_UTIL_H_
#define MULTIPROCESSING_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>

#include "absl/strings/string_view.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/platform/channel.h"

namespace mp::fuzz {

// Inputs up to this size fit in a socket buffer, so writing them all before
// reading never blocks.
inline constexpr std::size_t kMaxInput = 64 * 1024;

// The most a fuzzed Connection may accept: a length header above it must be
// refused before anything is allocated.
inline constexpr std::size_t kMessageCap = 1 << 20;

// A fuzz input for a Connection: its first byte picks a variant of the
// target (`selector`), the rest is what the peer sent before it ended its
// writing side. `ours` reads it. On POSIX `peer` stays open, so replies do
// not fail with EPIPE; on Windows, where a pipe cannot half-close, `peer` is
// closed and replies fail (an error the targets handle like any other).
struct PeerInput {
  uint8_t selector;
  Connection ours;
  Connection peer;
};

// nullopt for an empty input or one too large for a socket buffer.
inline std::optional<PeerInput> ConnectionFor(const uint8_t* data,
                                              std::size_t size) {
  if (size < 1 || size - 1 > kMaxInput) return std::nullopt;
  absl::StatusOr<platform::ChannelPair> pair = platform::CreateDuplexChannel();
  if (!pair.ok()) std::abort();
  const platform::ConstBuffer buffer{data + 1, size - 1};
  if (!platform::WriteAll(pair->second.get(), {&buffer, 1}).ok()) std::abort();
  if (!platform::CloseForWriting(pair->second).ok()) std::abort();
  PeerInput in{data[0], Connection(std::move(pair->first), true, true),
               Connection(std::move(pair->second), true, true)};
  in.ours.set_max_message_size(kMessageCap);
  return in;
}

}  // namespace mp::fuzz

#endif  // MULTIPROCESSING_FUZZ_FUZZ_UTIL_H_
