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
// How it works (ipc/internal/queue_core.h follows an item from Put() to
// Get()), and what a process that dies does to the others. Items are
// copied through a ring buffer in shared memory (ipc/shared_ring.h), many
// per lock hold; items over 64 KiB travel in shared memory of their own,
// whose handle goes through a kernel message channel
// (platform/message_channel.h) while the ring holds its ticket. The ring's
// lock survives its holder's death (platform::SharedLock: a robust mutex on
// Linux, a mutex on Windows), and a record enters or leaves the ring by one
// store made last. So a producer or consumer killed at any point, even
// holding the lock, cannot wedge the others; the survivors see:
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
// Errors (ipc/errors.h): Get() with nothing to get before the timeout, or
// GetNowait() on an empty queue: mp::IsEmpty(s). Put() on a full bounded
// queue: mp::IsFull(s).
// Use after Close() in this process: kFailedPrecondition. A default-
// constructed queue is no queue: see its constructor. An item that does
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
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "multiprocessing/ipc/errors.h"                // IsEmpty, IsFull
#include "multiprocessing/ipc/internal/queue_codec.h"  // Codec<Queue<T>> ...

namespace mp {

template <typename T>
class JoinableQueue;

namespace ipc_internal {
// What a default-constructed queue's Status-returning methods return.
[[nodiscard]] inline absl::Status NotAQueueError(const std::string& type,
                                                 const std::string& how) {
  return absl::FailedPreconditionError(
      type + ": default-constructed, not a queue; make one with " + how);
}
}  // namespace ipc_internal

// Python's multiprocessing.Queue(maxsize).
template <typename T>
class Queue {
 public:
  // maxsize <= 0: unbounded.
  [[nodiscard]] static absl::StatusOr<Queue> Create(int maxsize = 0) {
    return ipc_internal::MakeQueue<Queue>(maxsize);
  }
  // No queue: something to assign to (decoding needs it). Safe to use: each
  // method returning a Status fails with kFailedPrecondition ("mp::Queue:
  // default-constructed, not a queue; make one with ..."); qsize() is 0,
  // empty() true, full() false; Close() and CancelJoinThread() do nothing.
  Queue() = default;

  // put(item, block, timeout). Blocks only on a full bounded queue: until
  // there is room, or `timeout` (then mp::IsFull). block = false: IsFull at
  // once when full.
  [[nodiscard]] absl::Status Put(
      const T& item, bool block = true,
      std::optional<absl::Duration> timeout = std::nullopt) {
    if (core_ == nullptr) return NotAQueue();
    absl::StatusOr<std::string> bytes = ipc_internal::EncodeItem(item);
    if (!bytes.ok()) return bytes.status();
    return core_->Put(std::move(*bytes), block, timeout);
  }
  [[nodiscard]] absl::Status PutNowait(const T& item) {
    return Put(item, false);
  }

  // get(block, timeout): the next item; mp::IsEmpty when none came before
  // `timeout` (block = false: none there now).
  [[nodiscard]] absl::StatusOr<T> Get(
      bool block = true, std::optional<absl::Duration> timeout = std::nullopt) {
    if (core_ == nullptr) return NotAQueue();
    return ipc_internal::DecodeItem<T>(core_->Get(block, timeout));
  }
  [[nodiscard]] absl::StatusOr<T> GetNowait() { return Get(false); }

  // qsize(), empty(), full(): see the top of this file.
  std::size_t qsize() const { return core_ ? core_->qsize() : 0; }
  bool empty() const { return core_ ? core_->empty() : true; }
  bool full() const { return core_ ? core_->full() : false; }

  // close(): this process will put no more; the feeder exits once it has
  // written the buffer. Get() and Put() fail afterwards in this process.
  void Close() {
    if (core_ != nullptr) core_->Close();
  }
  // join_thread(): after Close(), waits until the feeder wrote the buffer.
  // Before Close(): kFailedPrecondition.
  [[nodiscard]] absl::Status JoinThread() {
    return core_ ? core_->JoinThread() : NotAQueue();
  }
  // cancel_join_thread(): this process will not wait for the feeder when it
  // ends (its buffered items may be lost).
  void CancelJoinThread() {
    if (core_ != nullptr) core_->CancelJoinThread();
  }

 protected:
  explicit Queue(std::shared_ptr<ipc_internal::QueueCore> core)
      : core_(std::move(core)) {}
  // A Queue and a JoinableQueue share these methods, so the message names
  // both.
  [[nodiscard]] static absl::Status NotAQueue() {
    return ipc_internal::NotAQueueError(
        "mp::Queue",
        "mp::Queue<T>::Create() (a JoinableQueue: "
        "mp::JoinableQueue<T>::Create())");
  }

  std::shared_ptr<ipc_internal::QueueCore> core_;

 private:
  friend struct ipc_internal::QueueAccess;
};

// Python's multiprocessing.JoinableQueue(maxsize).
template <typename T>
class JoinableQueue : public Queue<T> {
 public:
  [[nodiscard]] static absl::StatusOr<JoinableQueue> Create(int maxsize = 0) {
    return ipc_internal::MakeQueue<JoinableQueue>(maxsize);
  }
  // No queue, as a default Queue (see there); TaskDone() and Join() fail
  // with kFailedPrecondition too.
  JoinableQueue() = default;

  // task_done(): one item got earlier is processed. More calls than items
  // put: kInvalidArgument.
  [[nodiscard]] absl::Status TaskDone() {
    return this->core_ ? this->core_->TaskDone() : NotAJoinableQueue();
  }
  // join(): blocks until every item put has had its TaskDone().
  [[nodiscard]] absl::Status Join() {
    return this->core_ ? this->core_->Join() : NotAJoinableQueue();
  }

 private:
  explicit JoinableQueue(std::shared_ptr<ipc_internal::QueueCore> core)
      : Queue<T>(std::move(core)) {}
  friend struct ipc_internal::QueueAccess;
  [[nodiscard]] static absl::Status NotAJoinableQueue() {
    return ipc_internal::NotAQueueError("mp::JoinableQueue",
                                        "mp::JoinableQueue<T>::Create()");
  }
};

// Python's multiprocessing.SimpleQueue: Put() writes at once (no feeder
// thread, no bound, no qsize in Python; empty() here).
template <typename T>
class SimpleQueue {
 public:
  [[nodiscard]] static absl::StatusOr<SimpleQueue> Create() {
    return ipc_internal::MakeQueue<SimpleQueue>(0);
  }
  // No queue: something to assign to. Put() and Get() fail with
  // kFailedPrecondition; qsize() is 0, empty() true; Close() does nothing.
  SimpleQueue() = default;

  [[nodiscard]] absl::Status Put(const T& item) {
    if (core_ == nullptr) return NotAQueue();
    absl::StatusOr<std::string> bytes = ipc_internal::EncodeItem(item);
    if (!bytes.ok()) return bytes.status();
    return core_->Put(std::move(*bytes), true, std::nullopt);
  }
  [[nodiscard]] absl::StatusOr<T> Get() {
    if (core_ == nullptr) return NotAQueue();
    return ipc_internal::DecodeItem<T>(core_->Get(true, std::nullopt));
  }
  std::size_t qsize() const { return core_ ? core_->qsize() : 0; }
  bool empty() const { return core_ ? core_->empty() : true; }
  void Close() {
    if (core_ != nullptr) core_->Close();
  }

 private:
  explicit SimpleQueue(std::shared_ptr<ipc_internal::QueueCore> core)
      : core_(std::move(core)) {}
  friend struct ipc_internal::QueueAccess;
  [[nodiscard]] static absl::Status NotAQueue() {
    return ipc_internal::NotAQueueError("mp::SimpleQueue",
                                        "mp::SimpleQueue<T>::Create()");
  }

  std::shared_ptr<ipc_internal::QueueCore> core_;
};

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_QUEUE_H_
