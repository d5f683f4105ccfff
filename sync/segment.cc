#include "multiprocessing/sync/segment.h"

#include <cstring>
#include <mutex>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "multiprocessing/platform/crypto.h"

namespace mp::sync_internal {
namespace {

struct Header {
  uint64_t id;
  uint32_t kind;
};

// The segments this process has mapped, by id: what Decode shares.
std::mutex registry_mu;
absl::flat_hash_map<uint64_t, std::weak_ptr<Segment>>& Registry() {
  static auto* registry =
      new absl::flat_hash_map<uint64_t, std::weak_ptr<Segment>>;
  return *registry;
}

void Register(uint64_t id, const std::shared_ptr<Segment>& s) {
  std::lock_guard<std::mutex> lock(registry_mu);
  auto& registry = Registry();
  // Drop entries whose segments are gone, so the map stays small.
  if (registry.size() > 64) {
    absl::erase_if(registry, [](const auto& e) { return e.second.expired(); });
  }
  registry[id] = s;
}

}  // namespace

uint32_t Segment::kind() const {
  return static_cast<const Header*>(mapping_.data())->kind;
}
uint64_t Segment::id() const {
  return static_cast<const Header*>(mapping_.data())->id;
}

absl::StatusOr<std::shared_ptr<Segment>> Segment::Map(
    absl::StatusOr<platform::ScopedHandle> h, std::size_t size) {
  if (!h.ok()) return h.status();
  absl::StatusOr<platform::SharedMapping> m =
      platform::MapSharedMemory(h->get(), kHeader + size);
  if (!m.ok()) return m.status();
  std::shared_ptr<Segment> s(new Segment);
  s->handle_ = *std::move(h);
  s->mapping_ = *std::move(m);
  return s;
}

absl::StatusOr<std::shared_ptr<Segment>> Segment::Create(uint32_t kind,
                                                         std::size_t size) {
  absl::StatusOr<std::shared_ptr<Segment>> mapped =
      Map(platform::CreateSharedMemory(kHeader + size), size);
  if (!mapped.ok()) return mapped.status();
  std::shared_ptr<Segment> s = *std::move(mapped);
  auto* header = static_cast<Header*>(s->mapping_.data());
  char id[sizeof(uint64_t)];
  if (absl::Status st = platform::RandomBytes(absl::MakeSpan(id)); !st.ok()) {
    return st;
  }
  std::memcpy(&header->id, id, sizeof id);
  header->kind = kind;
  Register(header->id, s);
  return s;
}

void Segment::Encode(Encoder& e) const {
  e.EncodeTuple(kind(), static_cast<uint64_t>(size()), e.AddHandle(handle()),
                id());
}

absl::StatusOr<std::shared_ptr<Segment>> Segment::Decode(Decoder& d,
                                                         uint32_t kind) {
  uint32_t got_kind = 0;
  uint64_t size = 0;
  int64_t index = 0;
  uint64_t id = 0;
  if (absl::Status s = d.DecodeTuple(&got_kind, &size, &index, &id); !s.ok()) {
    return s;
  }
  if (got_kind != kind) {
    return absl::InvalidArgumentError(
        "codec: a synchronisation object of another kind");
  }
  {
    std::lock_guard<std::mutex> lock(registry_mu);
    auto it = Registry().find(id);
    if (it != Registry().end()) {
      if (std::shared_ptr<Segment> s = it->second.lock()) {
        if (s->kind() == kind) return s;
      }
    }
  }
  absl::StatusOr<std::shared_ptr<Segment>> mapped =
      Map(d.ClaimHandle(index), static_cast<std::size_t>(size));
  if (!mapped.ok()) return mapped.status();
  std::shared_ptr<Segment> s = *std::move(mapped);
  if (s->id() != id || s->kind() != kind) {
    return absl::InvalidArgumentError(
        "codec: a segment that is not the one sent");
  }
  Register(id, s);
  return s;
}

}  // namespace mp::sync_internal
