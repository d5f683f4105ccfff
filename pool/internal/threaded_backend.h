// Internal to //pool: what every Backend run by a pool thread shares (the
// local pool in pool/pool.cc, the MPI pool in pool/mpi): the state machine
// under mu_, the jobs submitted to the thread, the workers' pids, and
// Submit/Close/Terminate/Join. A subclass starts the thread on its Loop()
// and says how that thread is woken (Wake()).
#ifndef MULTIPROCESSING_POOL_INTERNAL_THREADED_BACKEND_H_
#define MULTIPROCESSING_POOL_INTERNAL_THREADED_BACKEND_H_

#include <cstdint>
#include <memory>
#include <mutex>
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

  // The pool thread: takes the jobs submitted since the last call, and the
  // state.
  State TakeSubmitted(std::vector<std::shared_ptr<Job>>* jobs) {
    std::lock_guard<std::mutex> lock(mu_);
    *jobs = std::move(submitted_);
    submitted_.clear();
    return state_;
  }

  // The pool thread, at its end: the pool is done, and the jobs submitted
  // before that are the caller's to fail.
  std::vector<std::shared_ptr<Job>> Finish() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::shared_ptr<Job>> jobs = std::move(submitted_);
    submitted_.clear();
    state_ = State::kDone;
    return jobs;
  }

  // std::mutex, not absl::Mutex: ThreadSanitizer sees it (README).
  std::mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kRunning;
  std::vector<std::shared_ptr<Job>> submitted_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> pids_ ABSL_GUARDED_BY(mu_);

 private:
  std::thread thread_;
  std::mutex join_mu_;
};

}  // namespace mp::pool_internal

#endif  // MULTIPROCESSING_POOL_INTERNAL_THREADED_BACKEND_H_
