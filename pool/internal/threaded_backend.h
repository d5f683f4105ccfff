// Internal to //pool: what every Backend run by a pool thread shares (the
// local pool in pool/pool.cc, the MPI pool in pool/mpi): the state machine
// under mu_, the jobs submitted to the thread, the workers' pids, and
// Submit/Close/Terminate/Join. A subclass starts the thread on its Loop()
// and says how that thread is woken (Wake()).
#ifndef MULTIPROCESSING_POOL_INTERNAL_THREADED_BACKEND_H_
#define MULTIPROCESSING_POOL_INTERNAL_THREADED_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "multiprocessing/pool/internal/result_state.h"

namespace mp::pool_internal {

class ThreadedBackend : public Backend {
 public:
  [[nodiscard]] absl::Status Submit(std::shared_ptr<Job> job) final {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_ != State::kRunning) {
        return absl::InvalidArgumentError("pool: Pool not running");
      }
      submitted_.push_back(std::move(job));
    }
    Wake();
    return absl::OkStatus();
  }

  void Close() final {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_ == State::kRunning) state_ = State::kClosing;
    }
    Wake();
  }

  void Terminate() final {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_ == State::kDone) return;
      state_ = State::kTerminating;
    }
    Wake();
    JoinThread();
  }

  [[nodiscard]] absl::Status Join() final {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_ == State::kRunning) {
        return absl::InvalidArgumentError(
            "pool: Join() before Close() or Terminate()");
      }
    }
    JoinThread();
    return absl::OkStatus();
  }

  std::vector<int64_t> WorkerPids() final {
    std::lock_guard<std::mutex> lock(mu_);
    return pids_;
  }

 protected:
  enum class State { kRunning, kClosing, kTerminating, kDone };

  // A subclass's destructor calls Terminate() and JoinThread(): Wake() and
  // Loop() use its members.
  ~ThreadedBackend() override = default;

  // Tells the pool thread that the state or submitted_ changed.
  virtual void Wake() = 0;
  // The pool thread; it ends by Finish().
  virtual void Loop() = 0;

  void StartThread() {
    thread_ = std::thread([this] { Loop(); });
  }

  void JoinThread() {
    std::lock_guard<std::mutex> lock(join_mu_);
    if (thread_.joinable()) thread_.join();
  }

  // A job the pool thread hands out chunk by chunk.
  struct Cursor {
    std::shared_ptr<Job> job;
    std::size_t pulled = 0;  // items handed out
  };

  // The pool thread: moves the jobs submitted since the last call to
  // jobs_; returns the state.
  State TakeSubmitted() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& job : submitted_) jobs_.push_back({std::move(job), 0});
    submitted_.clear();
    return state_;
  }

  // The pool thread, at its end: the pool is done; the jobs submitted
  // before that join jobs_, for the caller to fail (FailJobs).
  void Finish() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& job : submitted_) jobs_.push_back({std::move(job), 0});
    submitted_.clear();
    state_ = State::kDone;
  }

  // The pool thread: the next chunk of the oldest job in jobs_ with input
  // left (a job whose input is done leaves jobs_; a chunk whose arguments
  // cannot be sent fails). False when there is none.
  bool NextJobChunk(std::shared_ptr<Job>* job, std::size_t* first,
                    std::size_t* count, std::string* chunk) {
    while (!jobs_.empty()) {
      Cursor& c = jobs_.front();
      absl::Status error;
      *count = 0;
      chunk->clear();
      if (!c.job->NextChunk(chunk, count, &error)) {
        std::shared_ptr<Job> done = std::move(c.job);
        const std::size_t total = c.pulled;
        jobs_.pop_front();
        done->InputDone(total);
        continue;
      }
      *job = c.job;
      *first = c.pulled;
      c.pulled += *count;
      if (!error.ok()) {  // an argument that cannot be sent
        (*job)->Fail(*first, *count, error);
        continue;
      }
      return true;
    }
    return false;
  }

  // The pool thread: fails what is left of every job in jobs_ with `s`.
  void FailJobs(const absl::Status& s) {
    for (Cursor& c : jobs_) {
      c.job->Fail(c.pulled, 1, s);
      c.job->InputDone(c.pulled + 1);
    }
    jobs_.clear();
  }

  // std::mutex, not absl::Mutex: ThreadSanitizer sees it (README).
  std::mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kRunning;
  std::vector<std::shared_ptr<Job>> submitted_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> pids_ ABSL_GUARDED_BY(mu_);

  // The pool thread's.
  std::deque<Cursor> jobs_;

 private:
  std::thread thread_;
  std::mutex join_mu_;
};

}  // namespace mp::pool_internal

#endif  // MULTIPROCESSING_POOL_INTERNAL_THREADED_BACKEND_H_
