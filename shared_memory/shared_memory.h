// Python's multiprocessing.shared_memory.SharedMemory: a named block of
// shared memory that any process (C++ or CPython) attaches to by name.
//
//   auto shm = mp::SharedMemory::Create(1024);       // random "psm_..." name
//   std::memcpy(shm->buf().data(), "hi", 2);
//   // python3: SharedMemory(name=shm->name()).buf[:2] == b"hi"
//   shm->Close(); shm->Unlink();
//
// Names, permissions and what happens to a segment left behind are those of
// platform/named_shared_memory.h: POSIX shm_open("/" + name), created
// O_CREAT | O_EXCL, mode 0600, random names "psm_" + 8 hex digits
// (Windows: a named file mapping "wnsm_...", this user only). When the
// process that created a segment ends without Unlink() (killed, crashed,
// or forgot), a tracker process unlinks it and warns on stderr, as CPython's
// resource tracker does at shutdown; attaching processes never unlink.
// Passed to a child as a Process argument, the child gets the same segment
// (through its handle, so even an unlinked segment reaches it).
#ifndef MULTIPROCESSING_SHARED_MEMORY_SHARED_MEMORY_H_
#define MULTIPROCESSING_SHARED_MEMORY_SHARED_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/platform/named_shared_memory.h"

namespace mp {

class SharedMemory {
 public:
  // SharedMemory(name=None, create=True, size): a new segment. `name`
  // empty: a random free one. Exists: kAlreadyExists (FileExistsError).
  // size 0: kInvalidArgument (ValueError). `track`: see the top.
  [[nodiscard]] static absl::StatusOr<SharedMemory> Create(
      std::size_t size, absl::string_view name = "", bool track = true);
  // SharedMemory(name): attaches to an existing segment (all of it). None:
  // kNotFound (FileNotFoundError).
  [[nodiscard]] static absl::StatusOr<SharedMemory> Attach(
      absl::string_view name);

  // No segment: closed() is true, name() "", size() 0, buf() empty,
  // Close() does nothing and Unlink() is kFailedPrecondition. Make one with
  // Create() or Attach().
  SharedMemory() = default;

  // name, size, buf. After Close(): name() stays, size() stays, buf() is
  // empty.
  const std::string& name() const;
  std::size_t size() const { return shm_ ? shm_->size() : 0; }
  absl::Span<uint8_t> buf() const {
    if (shm_ == nullptr || !shm_->is_open()) return {};
    return {static_cast<uint8_t*>(shm_->data()), shm_->size()};
  }
  bool closed() const { return shm_ == nullptr || !shm_->is_open(); }

  // close(): this process's view goes (copies of this object share it, so
  // it goes for them too). Others keep the segment.
  void Close();
  // unlink(): the name goes (once, by one process); mapped views live on.
  // Already gone: kNotFound.
  [[nodiscard]] absl::Status Unlink();

 private:
  friend struct Codec<SharedMemory>;
  explicit SharedMemory(std::shared_ptr<platform::NamedSharedMemory> shm)
      : shm_(std::move(shm)) {}
  std::shared_ptr<platform::NamedSharedMemory> shm_;
};

// As a Process argument: (name, size, handle index), or None when closed.
template <>
struct Codec<SharedMemory> {
  static void Encode(const SharedMemory& v, Encoder& e);
  [[nodiscard]] static absl::Status Decode(Decoder& d, SharedMemory* out);
};

}  // namespace mp

#endif  // MULTIPROCESSING_SHARED_MEMORY_SHARED_MEMORY_H_
