// The feeder of a Queue: one process's buffer, which Put() appends to, and
// the thread that writes it to the queue. Put() on an unbounded queue so
// never blocks (Python's feeder thread).
//
// A forked child gets a fresh Feeder (queue_core.cc makes one per process):
// the parent's may hold a locked mutex and names a thread the child does
// not have.
#ifndef MULTIPROCESSING_IPC_INTERNAL_FEEDER_H_
#define MULTIPROCESSING_IPC_INTERNAL_FEEDER_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace mp::ipc_internal {

class Feeder {
 public:
  // Writes a batch of items in order, blocking while the queue is full.
  using Writer = std::function<absl::Status(absl::Span<const std::string>)>;

  Feeder() = default;
  // Flush() ran first (the thread is joined or detached).
  ~Feeder() = default;
  Feeder(const Feeder&) = delete;
  Feeder& operator=(const Feeder&) = delete;

  // kFailedPrecondition once Close() was called in this process.
  [[nodiscard]] absl::Status CheckOpen();

  // Appends `item` to the buffer (the caller checked CheckOpen() before
  // counting the item in); the first call starts the thread, which writes
  // with `write` until Close(). The thread holds `write` (and what it
  // captures) until it ends, so `write` must keep this Feeder alive. After
  // Flush() the item stays in the buffer unwritten.
  void Put(std::string item, const Writer& write);

  // close(): no more Put(); the thread ends once the buffer is written.
  void Close();

  // join_thread(): Flush(), after Close() (kFailedPrecondition before), even
  // if CancelJoin() was called.
  [[nodiscard]] absl::Status JoinThread();

  // cancel_join_thread(): Flush() will not wait for the thread.
  void CancelJoin();

  // Close(), then waits until the thread wrote the buffer, unless
  // CancelJoin() was called (then the thread is left to finish on its own).
  // Whether it waited (or there was nothing to wait for).
  bool Flush();

 private:
  static void Feed(Feeder* self, Writer write);

  // std::mutex, not absl::Mutex: ThreadSanitizer sees through it even with
  // the system's uninstrumented Abseil.
  std::mutex mu_;
  std::condition_variable wake_;
  std::vector<std::string> buffer_;
  bool closed_ = false;
  bool cancel_join_ = false;
  bool started_ = false;      // thread_ was started
  bool thread_done_ = false;  // and joined or detached, by one Flush()
  std::thread thread_;
};

}  // namespace mp::ipc_internal

#endif  // MULTIPROCESSING_IPC_INTERNAL_FEEDER_H_
