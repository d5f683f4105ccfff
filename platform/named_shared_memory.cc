// What named shared memory does the same on every OS.
#include "multiprocessing/platform/named_shared_memory.h"

#include <utility>

namespace mp::platform {

NamedSharedMemory& NamedSharedMemory::operator=(
    NamedSharedMemory&& other) noexcept {
  if (this != &other) {
    Close();
    name_ = std::move(other.name_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
    handle_ = std::move(other.handle_);
  }
  return *this;
}

}  // namespace mp::platform
