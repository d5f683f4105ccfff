// Internal to //pool: the pool thread's view of a submitted call (Job) and
// the typed state that collects its results (ResultState), behind
// AsyncResult, MapResult and ImapIterator.
#ifndef MULTIPROCESSING_POOL_INTERNAL_RESULT_STATE_H_
#define MULTIPROCESSING_POOL_INTERNAL_RESULT_STATE_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/pool/internal/task.h"
#include "multiprocessing/process/process.h"

namespace mp {

namespace pool_internal {

// The pool thread's view of one submitted call (apply, map, imap...).
class Job {
 public:
  virtual ~Job() = default;
  // The next chunk of the input: its pickled argument tuples and how many
  // there are (or, in *error, why they cannot be sent). False once the input
  // is exhausted. Called on the pool thread.
  virtual bool NextChunk(std::string* chunk, std::size_t* count,
                         absl::Status* error) = 0;
  // The outcomes of the `count` items from `first` on.
  virtual void Deliver(std::size_t first, std::size_t count,
                       absl::string_view outcomes) = 0;
  virtual void Fail(std::size_t first, std::size_t count,
                    const absl::Status& status) = 0;
  // No more chunks: `total` items in all.
  virtual void InputDone(std::size_t total) = 0;

  // Which function: a registered name, else an index in the callables table.
  std::string task_name;
  int64_t callable = -1;
  // Items are argument tuples (apply, starmap), else single arguments.
  bool spread = true;
};

// What runs the jobs: the local Core (pool.cc), or another backend such as
// the MPI one (pool/mpi). Pool forwards to it.
class Backend {
 public:
  virtual ~Backend() = default;
  // kInvalidArgument once the pool no longer runs.
  [[nodiscard]] virtual absl::Status Submit(std::shared_ptr<Job> job) = 0;
  virtual void Close() = 0;
  virtual void Terminate() = 0;
  [[nodiscard]] virtual absl::Status Join() = 0;
  virtual int processes() const = 0;
  // kFork: any callable runs; otherwise only registered functions.
  virtual StartMethod start_method() const = 0;
  virtual std::vector<int64_t> WorkerPids() = 0;
};

class Core;
struct PoolFactory;  // pool.h: makes a Pool on another Backend

// Results as they arrive, for every kind of call.
template <typename R>
class ResultState final : public Job {
 public:
  enum class Mode { kSingle, kList, kOrdered, kUnordered };
  using Pull = std::function<bool(std::string*, std::size_t*, absl::Status*)>;

  ResultState(Mode mode, Pull pull) : mode_(mode), pull_(std::move(pull)) {}

  std::function<void(const R&)> on_value;                // apply_async
  std::function<void(const std::vector<R>&)> on_values;  // map_async
  std::function<void(const absl::Status&)> on_error;

  bool NextChunk(std::string* chunk, std::size_t* count,
                 absl::Status* error) override {
    return pull_(chunk, count, error);
  }
  void Deliver(std::size_t first, std::size_t count,
               absl::string_view outcomes) override {
    absl::StatusOr<ChunkResults<R>> decoded = Decode<ChunkResults<R>>(outcomes);
    if (!decoded.ok()) return Fail(first, count, decoded.status());
    std::vector<absl::StatusOr<R>> values;
    values.reserve(count);
    if (decoded->ok) {
      for (R& v : decoded->values) values.emplace_back(std::move(v));
    } else {
      for (Outcome<R>& o : decoded->outcomes) {
        if (std::get<0>(o)) {
          values.emplace_back(std::get<1>(o) ? std::move(*std::get<1>(o))
                                             : R{});
        } else {
          values.emplace_back(ToStatus(o));
        }
      }
    }
    if (values.size() != count) {
      // A chunk that failed as a whole (unreadable arguments, an
      // initializer that failed): its one error is every item's.
      const absl::Status s =
          values.size() == 1 && !values[0].ok()
              ? values[0].status()
              : absl::DataLossError(
                    "pool: a worker answered with the wrong number of "
                    "results");
      return Fail(first, count, s);
    }
    Store(first, std::move(values));
  }
  void Fail(std::size_t first, std::size_t count,
            const absl::Status& status) override {
    Store(first, std::vector<absl::StatusOr<R>>(count, status));
  }
  void InputDone(std::size_t total) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      total_ = total;
    }
    changed_.notify_all();
    MaybeFinish();
  }

  bool Ready() {
    std::unique_lock<std::mutex> lock(mu_);
    return done_;
  }
  bool WaitReady(std::optional<absl::Duration> timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    AwaitLocked(lock, timeout, [this]() { return done_; });
    return done_;
  }
  // apply / map: the first error, or the values.
  [[nodiscard]] absl::StatusOr<std::vector<R>> Values(
      std::optional<absl::Duration> timeout) {
    if (!WaitReady(timeout)) return Timeout();
    std::unique_lock<std::mutex> lock(mu_);
    if (!first_error_.ok()) return Unshared(first_error_);
    std::vector<R> out;
    out.reserve(items_.size());
    for (auto& v : items_) out.push_back(**v);
    return out;
  }
  [[nodiscard]] absl::StatusOr<bool> Successful() {
    std::unique_lock<std::mutex> lock(mu_);
    if (!done_) {
      return absl::InvalidArgumentError("pool: the result is not ready");
    }
    return first_error_.ok();
  }
  // imap / imap_unordered: the next item, nullopt at the end.
  [[nodiscard]] absl::StatusOr<std::optional<R>> Next(
      std::optional<absl::Duration> timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    auto ready = [this]() {
      if (total_ && next_ >= *total_) return true;
      if (mode_ == Mode::kUnordered) return !completed_.empty();
      return next_ < items_.size() && items_[next_].has_value();
    };
    if (!AwaitLocked(lock, timeout, ready)) return Timeout();
    if (total_ && next_ >= *total_) return std::optional<R>();
    const std::size_t i =
        mode_ == Mode::kUnordered ? completed_.front() : next_;
    if (mode_ == Mode::kUnordered) completed_.pop_front();
    ++next_;
    absl::StatusOr<R> v = std::move(*items_[i]);
    if (!v.ok()) return v.status();
    return std::optional<R>(std::move(*v));
  }

 private:
  [[nodiscard]] static absl::Status ToStatus(const Outcome<R>& o) {
    return absl::Status(static_cast<absl::StatusCode>(std::get<2>(o)),
                        std::get<3>(o));
  }
  [[nodiscard]] static absl::Status Timeout() {
    return TimeoutError("pool: the result is not ready yet");
  }
  // A status with a representation of its own: the pool's thread makes
  // errors that the caller's thread reads, and Debian's Abseil (not
  // instrumented) shares one representation between copies behind a
  // reference count ThreadSanitizer cannot see.
  [[nodiscard]] static absl::Status Unshared(const absl::Status& s) {
    absl::Status copy(s.code(), std::string(s.message()));
    s.ForEachPayload([&copy](absl::string_view url, const absl::Cord& p) {
      copy.SetPayload(url, absl::Cord(std::string(p)));
    });
    return copy;
  }
  void Store(std::size_t first, std::vector<absl::StatusOr<R>> values) {
    for (absl::StatusOr<R>& v : values) {
      if (!v.ok()) v = Unshared(v.status());
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (items_.size() < first + values.size()) {
        items_.resize(first + values.size());
      }
      for (std::size_t i = 0; i < values.size(); ++i) {
        if (!values[i].ok() && first_error_.ok()) {
          first_error_ = Unshared(values[i].status());
        }
        items_[first + i] = std::move(values[i]);
        if (mode_ == Mode::kUnordered) completed_.push_back(first + i);
      }
      filled_ += values.size();
    }
    changed_.notify_all();
    MaybeFinish();
  }
  // Ready: every item arrived, or (apply, map) the first error did, as in
  // Python. Runs the callback once.
  void MaybeFinish() {
    std::function<void()> callback;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (done_) return;
      const bool all = total_ && filled_ >= *total_;
      const bool failed_early = !first_error_.ok() && (mode_ == Mode::kSingle ||
                                                       mode_ == Mode::kList);
      if (!all && !failed_early) return;
      done_ = true;
      if (!first_error_.ok()) {
        if (on_error) {
          callback = [f = on_error, s = Unshared(first_error_)] { f(s); };
        }
      } else if (mode_ == Mode::kSingle && on_value && !items_.empty()) {
        callback = [f = on_value, v = **items_[0]] { f(v); };
      } else if (mode_ == Mode::kList && on_values) {
        std::vector<R> all_values;
        for (auto& v : items_) all_values.push_back(**v);
        callback = [f = on_values, v = std::move(all_values)] { f(v); };
      }
    }
    changed_.notify_all();
    if (callback) callback();
  }

  const Mode mode_;
  Pull pull_;  // pool thread only
  // Waits (with `lock` held on mu_) until ready() or the timeout; ready().
  template <typename Ready>
  bool AwaitLocked(std::unique_lock<std::mutex>& lock,
                   std::optional<absl::Duration> timeout, Ready ready) {
    if (!timeout) {
      changed_.wait(lock, ready);
      return true;
    }
    return changed_.wait_for(lock, absl::ToChronoNanoseconds(*timeout), ready);
  }

  // std::mutex, not absl::Mutex: ThreadSanitizer sees the former even with
  // Debian's uninstrumented Abseil (README, Reliability).
  std::mutex mu_;
  std::condition_variable changed_;  // notified whenever the state changes
  std::vector<std::optional<absl::StatusOr<R>>> items_ ABSL_GUARDED_BY(mu_);
  std::deque<std::size_t> completed_ ABSL_GUARDED_BY(mu_);
  std::size_t filled_ ABSL_GUARDED_BY(mu_) = 0;
  std::size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<std::size_t> total_ ABSL_GUARDED_BY(mu_);
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// Items [begin, end) of a vector, encoded as a list without a copy.
template <typename T>
struct ItemRange {
  const T* b;
  const T* e;
  const T* begin() const { return b; }
  const T* end() const { return e; }
};

// Python's default chunksize for map: len / (4 * workers), rounded up.
std::size_t DefaultChunksize(std::size_t items, int workers);

}  // namespace pool_internal

template <typename T>
struct Codec<pool_internal::ItemRange<T>> {
  static void Encode(const pool_internal::ItemRange<T>& r, Encoder& e) {
    e.WriteList<T>(r);
  }
};

namespace pool_internal {

// Encodes n items from `begin` as a list.
template <typename T>
[[nodiscard]] absl::Status EncodeChunk(const T* begin, std::size_t n,
                                       std::string* out) {
  out->clear();
  return Encode(ItemRange<T>{begin, begin + n}, out);
}

}  // namespace pool_internal
}  // namespace mp

#endif  // MULTIPROCESSING_POOL_INTERNAL_RESULT_STATE_H_
