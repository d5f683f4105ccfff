// What the fuzz targets share: feeding a peer's bytes to a Connection.
#ifndef MULTIPROCESSING_FUZZ_FUZZ_UTIL_H_
#define MULTIPROCESSING_FUZZ_FUZZ_UTIL_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>

#include "absl/strings/string_view.h"
#include "ipc/connection.h"
#include "platform/channel.h"

namespace mp::fuzz {

// Inputs up to this size fit in a socket buffer, so writing them all before
// reading never blocks.
inline constexpr std::size_t kMaxInput = 64 * 1024;

// The most a fuzzed Connection may accept: a length header above it must be
// refused before anything is allocated.
inline constexpr std::size_t kMessageCap = 1 << 20;

// A Connection whose peer has sent exactly `bytes` and then shut down its
// writing side; nullopt if `bytes` is too large. The peer's end is kept
// open (so replies do not fail with EPIPE) in `*peer`.
inline std::optional<Connection> ConnectionReading(absl::string_view bytes,
                                                   Connection* peer) {
  if (bytes.size() > kMaxInput) return std::nullopt;
  absl::StatusOr<platform::ChannelPair> pair = platform::CreateDuplexChannel();
  if (!pair.ok()) std::abort();
  const platform::ConstBuffer buffer{bytes.data(), bytes.size()};
  if (!platform::WriteAll(pair->second.get(), {&buffer, 1}).ok()) std::abort();
  ::shutdown(static_cast<int>(pair->second.get()), SHUT_WR);
  *peer = Connection(std::move(pair->second), true, true);
  Connection c(std::move(pair->first), true, true);
  c.set_max_message_size(kMessageCap);
  return c;
}

}  // namespace mp::fuzz

#endif  // MULTIPROCESSING_FUZZ_FUZZ_UTIL_H_
