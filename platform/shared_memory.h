// Shared memory between processes, and waiting on a word in it.
//
// POSIX (Linux): memfd_create + mmap(MAP_SHARED); the handle can be inherited
// or sent, and every process that maps it sees the same bytes. Waiting uses
// the futex system call on a 32-bit word in the mapping: no lock is held
// while waiting, so a process that dies while waiting or waking leaves
// nothing held.
#ifndef MULTIPROCESSING_PLATFORM_SHARED_MEMORY_H_
#define MULTIPROCESSING_PLATFORM_SHARED_MEMORY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "platform/handle.h"

namespace mp::platform {

// `size` zeroed bytes of shared memory (close-on-exec handle).
absl::StatusOr<ScopedHandle> CreateSharedMemory(std::size_t size);

// A mapping of shared memory; unmapped by the destructor. Move-only.
class SharedMapping {
 public:
  SharedMapping() = default;
  SharedMapping(SharedMapping&& other) noexcept;
  SharedMapping& operator=(SharedMapping&& other) noexcept;
  SharedMapping(const SharedMapping&) = delete;
  SharedMapping& operator=(const SharedMapping&) = delete;
  ~SharedMapping();

  void* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  friend absl::StatusOr<SharedMapping> MapSharedMemory(NativeHandle,
                                                        std::size_t);
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

// Maps the first `size` bytes of shared memory `h`.
absl::StatusOr<SharedMapping> MapSharedMemory(NativeHandle h,
                                              std::size_t size);

// Blocks while *word == expected, until woken or `deadline` (nullopt: no
// deadline). Returns false at the deadline, true otherwise (which includes
// spurious wake-ups: re-check the word). Signals do not cut it short.
bool WaitOnWord(const std::atomic<uint32_t>* word, uint32_t expected,
                std::optional<absl::Time> deadline);

// Wakes every process and thread waiting on `word`.
void WakeWord(const std::atomic<uint32_t>* word);

}  // namespace mp::platform

#endif  // MULTIPROCESSING_PLATFORM_SHARED_MEMORY_H_
