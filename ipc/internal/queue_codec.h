// What the typed queues of ipc/queue.h share beyond QueueCore: encoding
// their items, making one of a kind, and the Codec that passes a queue to a
// child Process as its kind, maxsize and three inherited handles.
#ifndef MULTIPROCESSING_IPC_INTERNAL_QUEUE_CODEC_H_
#define MULTIPROCESSING_IPC_INTERNAL_QUEUE_CODEC_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/ipc/internal/queue_core.h"
#include "multiprocessing/platform/handle.h"

namespace mp {

template <typename T>
class Queue;
template <typename T>
class JoinableQueue;
template <typename T>
class SimpleQueue;

namespace ipc_internal {

// The kind of each queue class (it travels with the queue, so a child
// cannot decode a Queue as a SimpleQueue).
template <typename Q>
struct KindOf;
template <typename T>
struct KindOf<Queue<T>> {
  static constexpr QueueKind kValue = QueueKind::kQueue;
};
template <typename T>
struct KindOf<JoinableQueue<T>> {
  static constexpr QueueKind kValue = QueueKind::kJoinable;
};
template <typename T>
struct KindOf<SimpleQueue<T>> {
  static constexpr QueueKind kValue = QueueKind::kSimple;
};

template <typename Q>
[[nodiscard]] absl::StatusOr<Q> MakeQueue(int maxsize) {
  absl::StatusOr<std::shared_ptr<QueueCore>> core =
      QueueCore::Create(KindOf<Q>::kValue, maxsize);
  if (!core.ok()) return core.status();
  return QueueAccess::Wrap<Q>(std::move(*core));
}

template <typename T>
[[nodiscard]] absl::StatusOr<std::string> EncodeItem(const T& item) {
  std::string bytes;
  if (absl::Status s = mp::Encode(item, &bytes); !s.ok()) return s;
  return bytes;
}

template <typename T>
[[nodiscard]] absl::StatusOr<T> DecodeItem(absl::StatusOr<std::string> bytes) {
  if (!bytes.ok()) return bytes.status();
  return Decode<T>(*bytes);
}

// (kind, maxsize, and the indices of the three handles in the arguments'
// HandleTable), or None for a queue that was never created.
template <typename Q>
struct QueueCodec {
  static void Encode(const Q& q, Encoder& e) {
    QueueCore* core = QueueAccess::Core(q);
    if (core == nullptr) {
      e.WriteNone();
      return;
    }
    HandleList h;
    core->AppendHandles(&h);
    e.EncodeTuple(static_cast<int>(core->kind()), core->maxsize(),
                  e.AddHandle(h[0]), e.AddHandle(h[1]), e.AddHandle(h[2]));
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, Q* q) {
    if (d.is_none()) {
      *q = Q();
      return absl::OkStatus();
    }
    int kind = 0, maxsize = 0;
    int64_t handles[3];
    if (absl::Status s = d.DecodeTuple(&kind, &maxsize, &handles[0],
                                       &handles[1], &handles[2]);
        !s.ok()) {
      return s;
    }
    if (kind != static_cast<int>(KindOf<Q>::kValue)) {
      return absl::InvalidArgumentError("codec: a queue of another kind");
    }
    platform::ScopedHandle owned[3];
    for (int i = 0; i < 3; ++i) {
      absl::StatusOr<platform::ScopedHandle> h = d.ClaimHandle(handles[i]);
      if (!h.ok()) return h.status();
      owned[i] = std::move(*h);
    }
    absl::StatusOr<std::shared_ptr<QueueCore>> core =
        QueueCore::Adopt(KindOf<Q>::kValue, maxsize, std::move(owned[0]),
                         std::move(owned[1]), std::move(owned[2]));
    if (!core.ok()) return core.status();
    *q = QueueAccess::Wrap<Q>(std::move(*core));
    return absl::OkStatus();
  }
};

}  // namespace ipc_internal

template <typename T>
struct Codec<Queue<T>> : ipc_internal::QueueCodec<Queue<T>> {};
template <typename T>
struct Codec<JoinableQueue<T>> : ipc_internal::QueueCodec<JoinableQueue<T>> {};
template <typename T>
struct Codec<SimpleQueue<T>> : ipc_internal::QueueCodec<SimpleQueue<T>> {};

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_INTERNAL_QUEUE_CODEC_H_
