// Copies between a ring of `capacity` bytes and flat memory, wrapping at
// the ring's end: `pos` is a position that only grows (used modulo
// `capacity`). For the rings in shared memory (SharedRing,
// SharedMemoryStream).
#ifndef MULTIPROCESSING_IPC_INTERNAL_RING_COPY_H_
#define MULTIPROCESSING_IPC_INTERNAL_RING_COPY_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace mp::ipc_internal {

inline void CopyIn(char* data, uint64_t capacity, uint64_t pos,
                   const char* from, std::size_t n) {
  const uint64_t at = pos % capacity;
  const std::size_t first = std::min<uint64_t>(n, capacity - at);
  std::memcpy(data + at, from, first);
  std::memcpy(data, from + first, n - first);
}

inline void CopyOut(const char* data, uint64_t capacity, uint64_t pos, char* to,
                    std::size_t n) {
  const uint64_t at = pos % capacity;
  const std::size_t first = std::min<uint64_t>(n, capacity - at);
  std::memcpy(to, data + at, first);
  std::memcpy(to + first, data, n - first);
}

}  // namespace mp::ipc_internal

#endif  // MULTIPROCESSING_IPC_INTERNAL_RING_COPY_H_
