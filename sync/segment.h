// Internal to //sync and //shared_memory: a small anonymous shared memory
// segment that holds the state of a synchronisation primitive (or the bytes
// of a Value/Array), and how it travels to a child as a Process argument.
#ifndef MULTIPROCESSING_SYNC_SEGMENT_H_
#define MULTIPROCESSING_SYNC_SEGMENT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/shared_memory.h"

namespace mp::sync_internal {

// A mapped segment: a header (a random id, the kind, the size of the rest)
// and then `size` zeroed bytes for the user. Shared by the objects that use
// it in this process; unmapped when the last goes.
class Segment {
 public:
  // `kind` tells a Lock's segment from a Barrier's when it is decoded.
  [[nodiscard]] static absl::StatusOr<std::shared_ptr<Segment>> Create(
      uint32_t kind, std::size_t size);

  // The user's bytes (aligned to 64).
  void* data() const { return static_cast<char*>(mapping_.data()) + kHeader; }
  std::size_t size() const { return mapping_.size() - kHeader; }
  uint32_t kind() const;
  platform::NativeHandle handle() const { return handle_.get(); }

  // Writes (kind, size, handle index, id) for a Process argument.
  void Encode(Encoder& e) const;
  // The segment of such an encoding, checked to be of `kind`. A segment
  // this process has already (the same Lock passed twice, or inside a
  // Condition passed beside it) is shared, not mapped again.
  [[nodiscard]] static absl::StatusOr<std::shared_ptr<Segment>> Decode(
      Decoder& d, uint32_t kind);

  static constexpr std::size_t kHeader = 64;

 private:
  Segment() = default;
  uint64_t id() const;
  // A segment of `size` user bytes for the handle `h` (if it is one).
  [[nodiscard]] static absl::StatusOr<std::shared_ptr<Segment>> Map(
      absl::StatusOr<platform::ScopedHandle> h, std::size_t size);

  platform::ScopedHandle handle_;
  platform::SharedMapping mapping_;
};

// A segment inside a larger encoding (a Condition's beside its lock):
// decoding checks it is of `kind`.
struct SegmentRef {
  std::shared_ptr<Segment> segment;
  uint32_t kind = 0;
};

}  // namespace mp::sync_internal

namespace mp {
template <>
struct Codec<sync_internal::SegmentRef> {
  static void Encode(const sync_internal::SegmentRef& v, Encoder& e) {
    v.segment->Encode(e);
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d,
                                           sync_internal::SegmentRef* out) {
    auto s = sync_internal::Segment::Decode(d, out->kind);
    if (!s.ok()) return s.status();
    out->segment = *std::move(s);
    return absl::OkStatus();
  }
};
}  // namespace mp

#endif  // MULTIPROCESSING_SYNC_SEGMENT_H_
