// The untyped queue behind mp::Queue, mp::SimpleQueue and
// mp::JoinableQueue (ipc/queue.h): byte strings, put and got.
//
// An item's way from Put() to Get():
//   1. QueueCore::Put counts it in (the shared counters below; a bounded
//      queue waits for room) and hands it to this process's Feeder
//      (feeder.h), or, for a SimpleQueue, writes it at once.
//   2. The feeder thread calls QueueCore's Write, which copies small items
//      into the ring (ipc/shared_ring.h), many per lock hold, and sends a
//      large one through the LargeItemChannel (large_item_channel.h), the
//      ring holding its ticket.
//   3. QueueCore::Get takes the oldest record off the ring; a ticket is
//      exchanged for its item's memory on the channel under the same lock
//      hold, and the item is copied out once the lock is released.
#ifndef MULTIPROCESSING_IPC_INTERNAL_QUEUE_CORE_H_
#define MULTIPROCESSING_IPC_INTERNAL_QUEUE_CORE_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "multiprocessing/ipc/codec.h"  // HandleList
#include "multiprocessing/platform/handle.h"

namespace mp::ipc_internal {

enum class QueueKind { kQueue = 0, kSimple = 1, kJoinable = 2 };

class QueueCore {
 public:
  [[nodiscard]] static absl::StatusOr<std::shared_ptr<QueueCore>> Create(
      QueueKind kind, int maxsize);
  // In a spawned child: the queue whose handles it inherited (in the order
  // AppendHandles gives them).
  [[nodiscard]] static absl::StatusOr<std::shared_ptr<QueueCore>> Adopt(
      QueueKind kind, int maxsize, platform::ScopedHandle reader,
      platform::ScopedHandle writer, platform::ScopedHandle shared);
  // Flushes this process's feeder (Flush() in queue_core.cc).
  ~QueueCore();

  // The methods of ipc/queue.h, on encoded items.
  [[nodiscard]] absl::Status Put(std::string item, bool block,
                                 std::optional<absl::Duration> timeout);
  [[nodiscard]] absl::StatusOr<std::string> Get(
      bool block, std::optional<absl::Duration> timeout);
  std::size_t qsize() const;
  bool empty() const;
  bool full() const;
  void Close();
  [[nodiscard]] absl::Status JoinThread();
  void CancelJoinThread();
  [[nodiscard]] absl::Status TaskDone();
  absl::Status Join();

  // Takes the lock every process shares and never releases it: for tests
  // that kill the holder.
  void AcquireLockForTesting();

  QueueKind kind() const { return kind_; }
  int maxsize() const { return maxsize_; }
  // The three handles a child needs to adopt this queue.
  void AppendHandles(HandleList* out) const;

 private:
  struct Impl;  // queue_core.cc

  QueueCore(QueueKind kind, int maxsize, std::unique_ptr<Impl> impl);
  // This process's side of every live queue: flushed at exit.
  static void Track(const std::shared_ptr<Impl>& impl);
  static void FlushAll();

  QueueKind kind_;
  int maxsize_;
  // Shared with the feeder thread, which may outlive this object after
  // CancelJoinThread().
  std::shared_ptr<Impl> impl_;
};

// How the queue classes' codecs and the tests reach a queue's core: the
// classes befriend this instead of offering a core() to their users.
struct QueueAccess {
  template <typename Q>
  static QueueCore* Core(const Q& q) {
    return q.core_.get();
  }
  template <typename Q>
  static Q Wrap(std::shared_ptr<QueueCore> core) {
    return Q(std::move(core));
  }
};

}  // namespace mp::ipc_internal

#endif  // MULTIPROCESSING_IPC_INTERNAL_QUEUE_CORE_H_
