// mp::Queue, mp::SimpleQueue, mp::JoinableQueue: Python's multiprocessing
// queues, for values of one type T with an mp::Codec (ipc/codec.h).
//
//   absl::StatusOr<mp::Queue<int>> q = mp::Queue<int>::Create();
//   mp::Process producer([](mp::Queue<int>& q) {
//     for (int i = 0; i < 3; ++i) q.Put(i).IgnoreError();
//   }, *q);
//   producer.Start();
//   absl::StatusOr<int> first = q->Get();  // 0
//
// Sharing. A Queue is a handle: copies in one process share one queue, and
// passed to a child as an argument (fork or spawn; by value or std::ref) it
// is the same queue there. Any number of processes and threads may put and
// get. Each item is delivered exactly once; the items one producer (thread)
// puts arrive in the order it put them.
//
// How it works, and what a process that dies does to the others. Items are
// copied through a ring buffer in shared memory (ipc/shared_ring.h), many
// per lock hold; items over 64 KiB travel in shared memory of their own,
// whose handle goes through a kernel message channel
// (platform/message_channel.h) while the ring holds its ticket. The ring's
// lock survives its holder's death (platform::SharedLock: a robust mutex on
// Linux, a mutex on Windows), and a record enters or leaves the ring by one store made last. So
// a producer or consumer killed at any point, even holding the lock, cannot
// wedge the others; the survivors see:
//   - a consumer killed inside Get(): no item is lost, except one over
//     64 KiB whose message it had taken and whose record it had not yet
//     removed (that one item is lost);
//   - a producer killed: items still in its feeder buffer (below) are lost;
//     items it had written are delivered whole and in order; an item it was
//     writing is either delivered whole or not at all;
//   - either killed between its counter update and its write/read: qsize()
//     is off by one for good, and a bounded queue has one slot fewer.
// A process stopped (not killed) while holding the lock delays the others
// until it goes on; a Get() with a timeout still returns Empty at its
// deadline.
// A JoinableQueue's Join() waits for TaskDone() calls, so a consumer killed
// after Get() and before TaskDone() makes Join() wait forever (as in Python).
//
// Feeder (Queue, JoinableQueue). Put() does not write: it appends the
// encoded item to this process's buffer, which a background thread writes
// to the ring, so Put() on an unbounded queue never blocks. The buffer is
// flushed when the process ends normally (main returning, std::exit, a
// child's target returning, mp::Exit), when the last copy of the Queue in
// this process is destroyed, and by Close() + JoinThread(). Items can be
// lost only when: CancelJoinThread() was called and the process ends before
// the feeder wrote them; the process is killed or ends with _exit()/abort()
// or a crash; or a fork child is made while items are buffered (the child
// does not send the parent's buffer; the parent still does).
// A flush waits until the ring takes the items, so a process that put
// many items and ends while nobody gets them waits at exit (Python's
// "joining processes that use queues" rule).
//
// Windows differs in one way: the memory of an item over 64 KiB can be
// taken only while its producer lives (platform::AttachmentsOutliveSender),
// so a flush (SimpleQueue's too) also waits until a consumer has taken
// every such item this process put. A producer killed before then loses
// those items, and the Get() that meets one returns kDataLoss (the next
// Get() goes on).
//
// SimpleQueue writes in Put() itself (no thread), blocking while the ring
// is full.
//
// Errors: Get() with nothing to get before the timeout, or GetNowait() on an
// empty queue: mp::IsEmpty(s). Put() on a full bounded queue: mp::IsFull(s).
// Use after Close() in this process: kFailedPrecondition. An item that does
// not decode as T (a peer that put another type): kInvalidArgument, and that
// item is consumed. TaskDone() called more times than items were put:
// kInvalidArgument (Python's ValueError).
//
// qsize(): approximate, as in Python: items put (by any process) and not yet
// got, including those still in feeders' buffers. full() is
// qsize() >= maxsize. empty(), as in Python: no item is in the queue itself
// right now (items still in a feeder's buffer do not count, so empty() can
// be true just after a Put()).
#ifndef MULTIPROCESSING_IPC_QUEUE_H_
#define MULTIPROCESSING_IPC_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ipc/codec.h"
#include "platform/error.h"
#include "platform/handle.h"

namespace mp {
namespace ipc_internal {

enum class QueueKind { kQueue = 0, kSimple = 1, kJoinable = 2 };

// The untyped queue behind the three classes: byte strings.
class QueueCore {
 public:
  static absl::StatusOr<std::shared_ptr<QueueCore>> Create(QueueKind kind,
                                                           int maxsize);
  // In a spawned child: the queue whose handles it inherited.
  static absl::StatusOr<std::shared_ptr<QueueCore>> Adopt(
      QueueKind kind, int maxsize, platform::ScopedHandle reader,
      platform::ScopedHandle writer, platform::ScopedHandle shared);
  ~QueueCore();

  absl::Status Put(std::string item, bool block,
                   std::optional<absl::Duration> timeout);
  absl::StatusOr<std::string> Get(bool block,
                                  std::optional<absl::Duration> timeout);
  std::size_t qsize() const;
  bool empty() const;
  bool full() const;
  void Close();
  absl::Status JoinThread();
  void CancelJoinThread();
  absl::Status TaskDone();
  absl::Status Join();

  // Takes the lock every process shares and never releases it: for tests
  // that kill the holder.
  void AcquireLockForTesting();

  QueueKind kind() const { return kind_; }
  int maxsize() const { return maxsize_; }
  void AppendHandles(HandleList* out) const;

  struct Impl;

 private:
  QueueCore(QueueKind kind, int maxsize, std::unique_ptr<Impl> impl);
  QueueKind kind_;
  int maxsize_;
  // Shared with the feeder thread, which may outlive this object after
  // CancelJoinThread().
  std::shared_ptr<Impl> impl_;
};

template <typename T>
absl::StatusOr<T> DecodeItem(absl::StatusOr<std::string> bytes) {
  if (!bytes.ok()) return bytes.status();
  return Decode<T>(*bytes);
}

// What Queue, SimpleQueue and JoinableQueue share.
template <typename T, QueueKind kKind>
class QueueBase {
 public:
  // No queue: only something to assign to (decoding needs it); calling
  // any method on it is a bug. Use Create().
  QueueBase() = default;

  // qsize(), empty(), full(): see the top of this file.
  std::size_t qsize() const { return core_->qsize(); }
  bool empty() const { return core_->empty(); }

  // close(): this process will put no more; the feeder exits once it has
  // written the buffer. Get() and Put() fail afterwards in this process.
  void Close() { core_->Close(); }

  ipc_internal::QueueCore* core() const { return core_.get(); }

 protected:
  explicit QueueBase(std::shared_ptr<QueueCore> core)
      : core_(std::move(core)) {}
  static absl::StatusOr<std::shared_ptr<QueueCore>> NewCore(int maxsize) {
    return QueueCore::Create(kKind, maxsize);
  }
  template <typename Q>
  friend struct QueueCodec;

  std::shared_ptr<QueueCore> core_;
};

// The queues as Process arguments: (kind, maxsize, and the indices of the
// three handles in the arguments' HandleTable), or None for a queue that
// was never created.
template <typename Q>
struct QueueCodec {
  static void Encode(const Q& q, Encoder& e) {
    if (q.core() == nullptr) {
      e.WriteNone();
      return;
    }
    HandleList h;
    q.core()->AppendHandles(&h);
    e.EncodeTuple(static_cast<int>(q.core()->kind()), q.core()->maxsize(),
                  e.AddHandle(h[0]), e.AddHandle(h[1]), e.AddHandle(h[2]));
  }
  static absl::Status Decode(Decoder& d, Q* q) {
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
    if (kind != static_cast<int>(Q::kKindValue)) {
      return absl::InvalidArgumentError("codec: a queue of another kind");
    }
    platform::ScopedHandle owned[3];
    for (int i = 0; i < 3; ++i) {
      absl::StatusOr<platform::ScopedHandle> h = d.ClaimHandle(handles[i]);
      if (!h.ok()) return h.status();
      owned[i] = std::move(*h);
    }
    absl::StatusOr<std::shared_ptr<QueueCore>> core =
        QueueCore::Adopt(Q::kKindValue, maxsize, std::move(owned[0]),
                         std::move(owned[1]), std::move(owned[2]));
    if (!core.ok()) return core.status();
    *q = Q(std::move(*core));
    return absl::OkStatus();
  }
};

}  // namespace ipc_internal

// Python's multiprocessing.Queue(maxsize).
template <typename T>
class Queue : public ipc_internal::QueueBase<T, ipc_internal::QueueKind::kQueue> {
  using Base = ipc_internal::QueueBase<T, ipc_internal::QueueKind::kQueue>;

 public:
  static constexpr ipc_internal::QueueKind kKindValue =
      ipc_internal::QueueKind::kQueue;

  // maxsize <= 0: unbounded.
  static absl::StatusOr<Queue> Create(int maxsize = 0) {
    auto core = Base::NewCore(maxsize);
    if (!core.ok()) return core.status();
    return Queue(std::move(*core));
  }
  Queue() = default;

  // put(item, block, timeout). Blocks only on a full bounded queue: until
  // there is room, or `timeout` (then mp::IsFull). block = false: IsFull at
  // once when full.
  absl::Status Put(const T& item, bool block = true,
                   std::optional<absl::Duration> timeout = std::nullopt) {
    std::string bytes;
    if (absl::Status s = mp::Encode(item, &bytes); !s.ok()) return s;
    return this->core_->Put(std::move(bytes), block, timeout);
  }
  absl::Status PutNowait(const T& item) { return Put(item, false); }

  // get(block, timeout): the next item; mp::IsEmpty when none came before
  // `timeout` (block = false: none there now).
  absl::StatusOr<T> Get(bool block = true,
                        std::optional<absl::Duration> timeout = std::nullopt) {
    return ipc_internal::DecodeItem<T>(this->core_->Get(block, timeout));
  }
  absl::StatusOr<T> GetNowait() { return Get(false); }

  bool full() const { return this->core_->full(); }

  // join_thread(): after Close(), waits until the feeder wrote the buffer.
  // Before Close(): kFailedPrecondition.
  absl::Status JoinThread() { return this->core_->JoinThread(); }
  // cancel_join_thread(): this process will not wait for the feeder when it
  // ends (its buffered items may be lost).
  void CancelJoinThread() { this->core_->CancelJoinThread(); }

 protected:
  explicit Queue(std::shared_ptr<ipc_internal::QueueCore> core)
      : Base(std::move(core)) {}
  template <typename Q>
  friend struct ipc_internal::QueueCodec;
};

// Python's multiprocessing.JoinableQueue(maxsize).
template <typename T>
class JoinableQueue : public Queue<T> {
 public:
  static constexpr ipc_internal::QueueKind kKindValue =
      ipc_internal::QueueKind::kJoinable;

  static absl::StatusOr<JoinableQueue> Create(int maxsize = 0) {
    auto core = ipc_internal::QueueCore::Create(kKindValue, maxsize);
    if (!core.ok()) return core.status();
    return JoinableQueue(std::move(*core));
  }
  JoinableQueue() = default;

  // task_done(): one item got earlier is processed. More calls than items
  // put: kInvalidArgument.
  absl::Status TaskDone() { return this->core_->TaskDone(); }
  // join(): blocks until every item put has had its TaskDone().
  absl::Status Join() { return this->core_->Join(); }

 private:
  explicit JoinableQueue(std::shared_ptr<ipc_internal::QueueCore> core)
      : Queue<T>(std::move(core)) {}
  template <typename Q>
  friend struct ipc_internal::QueueCodec;
};

// Python's multiprocessing.SimpleQueue: Put() writes at once (no feeder
// thread, no bound, no qsize in Python; empty() here).
template <typename T>
class SimpleQueue
    : public ipc_internal::QueueBase<T, ipc_internal::QueueKind::kSimple> {
  using Base = ipc_internal::QueueBase<T, ipc_internal::QueueKind::kSimple>;

 public:
  static constexpr ipc_internal::QueueKind kKindValue =
      ipc_internal::QueueKind::kSimple;

  static absl::StatusOr<SimpleQueue> Create() {
    auto core = Base::NewCore(0);
    if (!core.ok()) return core.status();
    return SimpleQueue(std::move(*core));
  }
  SimpleQueue() = default;

  absl::Status Put(const T& item) {
    std::string bytes;
    if (absl::Status s = mp::Encode(item, &bytes); !s.ok()) return s;
    return this->core_->Put(std::move(bytes), true, std::nullopt);
  }
  absl::StatusOr<T> Get() {
    return ipc_internal::DecodeItem<T>(this->core_->Get(true, std::nullopt));
  }

 private:
  explicit SimpleQueue(std::shared_ptr<ipc_internal::QueueCore> core)
      : Base(std::move(core)) {}
  template <typename Q>
  friend struct ipc_internal::QueueCodec;
};

template <typename T>
struct Codec<Queue<T>> : ipc_internal::QueueCodec<Queue<T>> {};
template <typename T>
struct Codec<JoinableQueue<T>> : ipc_internal::QueueCodec<JoinableQueue<T>> {};
template <typename T>
struct Codec<SimpleQueue<T>> : ipc_internal::QueueCodec<SimpleQueue<T>> {};

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_QUEUE_H_
