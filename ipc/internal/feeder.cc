#include "multiprocessing/ipc/internal/feeder.h"

#include <cstdio>
#include <utility>

namespace mp::ipc_internal {

absl::Status Feeder::CheckOpen() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return absl::FailedPreconditionError("Queue is closed");
  return absl::OkStatus();
}

void Feeder::Put(std::string item, const Writer& write) {
  std::lock_guard<std::mutex> lock(mu_);
  buffer_.push_back(std::move(item));
  wake_.notify_one();
  if (!started_ && !thread_done_) {
    started_ = true;
    thread_ = std::thread(&Feeder::Feed, this, write);
  }
}

void Feeder::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  wake_.notify_one();
}

absl::Status Feeder::JoinThread() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!closed_) {
      return absl::FailedPreconditionError(
          "Queue.join_thread: call Close() first");
    }
    cancel_join_ = false;  // an explicit join waits
  }
  Flush();
  return absl::OkStatus();
}

void Feeder::CancelJoin() {
  std::lock_guard<std::mutex> lock(mu_);
  cancel_join_ = true;
}

bool Feeder::Flush() {
  bool join = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    wake_.notify_one();
    const bool running = started_ && !thread_done_;
    thread_done_ = true;
    if (cancel_join_) {
      if (running) thread_.detach();
      return false;
    }
    join = running;
  }
  // Only the Flush() that set thread_done_ joins.
  if (join) thread_.join();
  return true;
}

void Feeder::Feed(Feeder* self, Writer write) {
  // Two buffers swap roles, keeping their capacity: Put() appends to one
  // while this writes the other, and neither is reallocated from empty
  // each time (which page-faulted in fresh memory at every batch).
  std::vector<std::string> batch;
  for (;;) {
    batch.clear();
    // But a burst's worth of capacity is not kept for good.
    if (batch.capacity() > 65536) std::vector<std::string>().swap(batch);
    {
      std::unique_lock<std::mutex> lock(self->mu_);
      self->wake_.wait(
          lock, [self] { return !self->buffer_.empty() || self->closed_; });
      if (self->buffer_.empty()) return;  // closed and flushed
      batch.swap(self->buffer_);
    }
    if (absl::Status s = write(batch); !s.ok()) {
      // Python's feeder prints the traceback and goes on.
      std::fprintf(stderr, "mp::Queue feeder: %s\n", s.ToString().c_str());
    }
  }
}

}  // namespace mp::ipc_internal
