#include "multiprocessing/platform/channel.h"

namespace mp::platform {

// The same on every OS: ReadSome until full or the end of the stream.
absl::StatusOr<std::size_t> ReadFull(NativeHandle h, void* buffer,
                                     std::size_t size) {
  char* p = static_cast<char*>(buffer);
  std::size_t got = 0;
  while (got < size) {
    absl::StatusOr<std::size_t> r = ReadSome(h, p + got, size - got);
    if (!r.ok()) return r.status();
    if (*r == 0) break;
    got += *r;
  }
  return got;
}

}  // namespace mp::platform
