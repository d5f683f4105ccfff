#include "multiprocessing/shared_memory/shared_memory.h"

#include <utility>

namespace mp {

absl::StatusOr<SharedMemory> SharedMemory::Create(std::size_t size,
                                                  absl::string_view name,
                                                  bool track) {
  absl::StatusOr<platform::NamedSharedMemory> shm =
      platform::NamedSharedMemory::Create(name, size, track);
  if (!shm.ok()) return shm.status();
  return SharedMemory(
      std::make_shared<platform::NamedSharedMemory>(*std::move(shm)));
}

absl::StatusOr<SharedMemory> SharedMemory::Attach(absl::string_view name) {
  absl::StatusOr<platform::NamedSharedMemory> shm =
      platform::NamedSharedMemory::Open(name);
  if (!shm.ok()) return shm.status();
  return SharedMemory(
      std::make_shared<platform::NamedSharedMemory>(*std::move(shm)));
}

const std::string& SharedMemory::name() const {
  static const std::string* const kNone = new std::string;
  return shm_ ? shm_->name() : *kNone;
}

void SharedMemory::Close() {
  if (shm_ != nullptr) shm_->Close();
}

absl::Status SharedMemory::Unlink() {
  if (shm_ == nullptr) {
    return absl::FailedPreconditionError(
        "mp::SharedMemory: default-constructed, not a segment; make one with "
        "mp::SharedMemory::Create(size) or Attach(name)");
  }
  return platform::UnlinkNamedSharedMemory(shm_->name());
}

void Codec<SharedMemory>::Encode(const SharedMemory& v, Encoder& e) {
  if (v.closed()) {
    e.WriteNone();
    return;
  }
  e.EncodeTuple(v.name(), static_cast<uint64_t>(v.size()),
                e.AddHandle(v.shm_->handle()));
}

absl::Status Codec<SharedMemory>::Decode(Decoder& d, SharedMemory* out) {
  if (d.is_none()) {
    *out = SharedMemory();
    return absl::OkStatus();
  }
  std::string name;
  uint64_t size = 0;
  int64_t index = 0;
  if (absl::Status s = d.DecodeTuple(&name, &size, &index); !s.ok()) return s;
  absl::StatusOr<platform::ScopedHandle> h = d.ClaimHandle(index);
  if (!h.ok()) return h.status();
  absl::StatusOr<platform::NamedSharedMemory> shm =
      platform::NamedSharedMemory::Adopt(*std::move(h), std::move(name),
                                         static_cast<std::size_t>(size));
  if (!shm.ok()) return shm.status();
  *out = SharedMemory(
      std::make_shared<platform::NamedSharedMemory>(*std::move(shm)));
  return absl::OkStatus();
}

}  // namespace mp
