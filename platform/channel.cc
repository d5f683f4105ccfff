#include "multiprocessing/platform/channel.h"

namespace mp::platform {

// The same on every OS: ReadSome until full or the end of the stream.
absl::StatusOr<std::size_t> ReadFull(NativeHandle h, void* buffer,
                                     std::size_t size) {
  return ReadFull([h](void* p, std::size_t n) { return ReadSome(h, p, n); },
                  buffer, size);
}

absl::StatusOr<std::size_t> ReadFull(
    absl::FunctionRef<absl::StatusOr<std::size_t>(void*, std::size_t)>
        read_some,
    void* buffer, std::size_t size) {
  char* p = static_cast<char*>(buffer);
  std::size_t got = 0;
  while (got < size) {
    absl::StatusOr<std::size_t> r = read_some(p + got, size - got);
    if (!r.ok()) return r.status();
    if (*r == 0) break;
    got += *r;
  }
  return got;
}

}  // namespace mp::platform
