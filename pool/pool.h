// mp::Pool: Python's multiprocessing.Pool.
//
//   int Square(int x) { return x * x; }
//   MP_REGISTER_TASK(Square);  // for spawn (and Windows)
//
//   absl::StatusOr<mp::Pool> pool = mp::Pool::Create();  // CpuCount() workers
//   absl::StatusOr<std::vector<int>> squares = pool->Map(Square, items);
//
// Workers are daemonic child processes started with the pool's start method.
// A task's arguments and result travel pickled (ipc/codec.h), so they may be
// any encodable type. A task function may return a value, void, absl::Status
// or absl::StatusOr<T>; an error status, or an exception it throws, becomes
// that task's error (Python re-raises the worker's exception in get()).
//
// Which functions run:
//   - a function registered with MP_REGISTER_TASK, under every start method;
//   - under fork, any callable (lambdas with captures, function objects).
//     A worker can run the callables that existed when it was forked, so the
//     first task with a callable newer than a worker replaces that worker
//     (one fork each); register functions you use often, or create the
//     pool after them... as Python, whose workers only run importable
//     functions, never closures.
//
// Better than Python on the bad day: a worker that dies while running a
// task (a crash, SIGKILL, _exit) fails that task with kAborted ("pool
// worker 3 (pid 1234) died with signal 9 while running a task of 100 items")
// instead of hanging the caller forever; the worker is replaced and the pool
// goes on. Terminate() (and the destructor) kill the workers at once and
// fail what had not finished with kCancelled.
//
// Threads: the pool runs one thread of its own, which sends tasks, receives
// results, runs callbacks (keep them short, as in Python) and replaces
// workers; with fork, workers are forked from that thread (what runs in a
// forked worker is the task loop: it takes no lock that another thread of
// the parent could hold). A Pool may be used from several threads.
#ifndef MULTIPROCESSING_POOL_POOL_H_
#define MULTIPROCESSING_POOL_POOL_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/pool/internal/result_state.h"
#include "multiprocessing/pool/internal/task.h"  // MP_REGISTER_TASK
#include "multiprocessing/process/process.h"

namespace mp {

// The result type the caller sees for a task f(args...) (TaskResultOf):
// what f returns, std::monostate for void and absl::Status, T for
// absl::StatusOr<T>.
template <typename F, typename... A>
using TaskResult =
    typename TaskResultOf<std::invoke_result_t<F&, std::decay_t<A>&...>>::type;

// What apply_async()'s and map_async()'s results have in common.
template <typename Item>
class PoolResult {
 public:
  // wait(timeout): whether it is ready now.
  bool Wait(std::optional<absl::Duration> timeout = std::nullopt) {
    return state_->WaitReady(timeout);
  }
  bool Ready() const { return state_->Ready(); }
  // successful(): kInvalidArgument (Python's ValueError) while not ready.
  [[nodiscard]] absl::StatusOr<bool> Successful() const {
    return state_->Successful();
  }

 protected:
  explicit PoolResult(std::shared_ptr<pool_internal::ResultState<Item>> s)
      : state_(std::move(s)) {}
  std::shared_ptr<pool_internal::ResultState<Item>> state_;
};

// apply_async()'s result.
template <typename R>
class AsyncResult : public PoolResult<R> {
 public:
  // get(timeout): the value, the task's error, or mp::IsTimeout.
  [[nodiscard]] absl::StatusOr<R> Get(
      std::optional<absl::Duration> timeout = std::nullopt) {
    absl::StatusOr<std::vector<R>> v = this->state_->Values(timeout);
    if (!v.ok()) return v.status();
    return std::move((*v)[0]);
  }

 private:
  friend class Pool;
  using PoolResult<R>::PoolResult;
};

// map_async()'s and starmap_async()'s result: the values in input order, or
// the first error.
template <typename R>
class MapResult : public PoolResult<R> {
 public:
  [[nodiscard]] absl::StatusOr<std::vector<R>> Get(
      std::optional<absl::Duration> timeout = std::nullopt) {
    return this->state_->Values(timeout);
  }

 private:
  friend class Pool;
  using PoolResult<R>::PoolResult;
};

// imap()'s and imap_unordered()'s iterator: Next() gives the next result
// (in input order for Imap, in completion order for ImapUnordered), an
// empty optional after the last (Python's StopIteration), the task's error
// for a failed item (the iteration goes on after it), or mp::IsTimeout.
template <typename R>
class ImapIterator {
 public:
  [[nodiscard]] absl::StatusOr<std::optional<R>> Next(
      std::optional<absl::Duration> timeout = std::nullopt) {
    return state_->Next(timeout);
  }

 private:
  friend class Pool;
  explicit ImapIterator(std::shared_ptr<pool_internal::ResultState<R>> s)
      : state_(std::move(s)) {}
  std::shared_ptr<pool_internal::ResultState<R>> state_;
};

class Pool {
 public:
  struct Options {
    // processes: the number of workers; CpuCount() (or 1) when unset.
    std::optional<int> processes;
    // maxtasksperchild: a worker is replaced after this many tasks (chunks);
    // 0 = never.
    int maxtasksperchild = 0;
    // The start method of the workers (Python's context); the default one
    // when unset.
    std::optional<StartMethod> start_method;

    // initializer(*initargs): run by each worker when it starts. Under
    // spawn, a function registered with MP_REGISTER_TASK. A failing
    // initializer (an error status or exception) fails every task that
    // worker is given.
    template <typename F, typename... A>
    Options& set_initializer(F f, A... args);

    // Internal.
    std::function<void()> init_fork;
    std::string init_name;
    std::string init_args;
    absl::Status init_status;
  };

  // Pool(processes): kInvalidArgument for processes < 1.
  [[nodiscard]] static absl::StatusOr<Pool> Create(
      std::optional<int> processes = std::nullopt);
  [[nodiscard]] static absl::StatusOr<Pool> Create(Options options);

  Pool(Pool&&) noexcept;
  Pool& operator=(Pool&&) noexcept;
  // Like leaving Python's `with Pool() as p:`: Terminate() and Join().
  ~Pool();

  // apply(f, args): f(args...) in a worker.
  template <typename F, typename... A>
  auto Apply(F f, A... args) {
    return ApplyAsync(f, std::move(args)...).Get();
  }
  // apply_async(f, args): see also ApplyAsyncWithCallbacks.
  template <typename F, typename... A>
  auto ApplyAsync(F f, A... args) {
    return ApplyAsyncWithCallbacks(f, std::make_tuple(std::move(args)...),
                                   nullptr, nullptr);
  }
  // apply_async(f, args, callback=, error_callback=). The callbacks run on
  // the pool's thread: callback(const R&), error_callback(const
  // absl::Status&); nullptr for none.
  template <typename F, typename... A, typename Callback,
            typename ErrorCallback, typename R = TaskResult<F, A...>>
  AsyncResult<R> ApplyAsyncWithCallbacks(F f, std::tuple<A...> args,
                                         Callback callback,
                                         ErrorCallback error_callback);

  // map(f, items, chunksize): [f(x) for x in items], in order; the first
  // failed item's error. chunksize 0: Python's default.
  template <typename F, typename T, typename R = TaskResult<F, T>>
  [[nodiscard]] absl::StatusOr<std::vector<R>> Map(F f, std::vector<T> items,
                                                   std::size_t chunksize = 0) {
    return MapAsync(f, std::move(items), chunksize).Get();
  }
  // map(f, [1, 2, 3]): a braced list.
  template <typename F, typename T, typename R = TaskResult<F, T>>
  [[nodiscard]] absl::StatusOr<std::vector<R>> Map(
      F f, std::initializer_list<T> items, std::size_t chunksize = 0) {
    return Map(f, std::vector<T>(items), chunksize);
  }
  // map_async(f, items, chunksize, callback, error_callback): callback(const
  // std::vector<R>&) once all are in, or error_callback(const absl::Status&)
  // at the first error; on the pool's thread; nullptr for none.
  template <typename F, typename T, typename Callback = std::nullptr_t,
            typename ErrorCallback = std::nullptr_t,
            typename R = TaskResult<F, T>>
  MapResult<R> MapAsync(F f, std::vector<T> items, std::size_t chunksize = 0,
                        Callback callback = nullptr,
                        ErrorCallback error_callback = nullptr);

  // starmap(f, [(a, b), ...]): f(a, b) for each tuple.
  template <typename F, typename... A, typename R = TaskResult<F, A...>>
  [[nodiscard]] absl::StatusOr<std::vector<R>> Starmap(
      F f, std::vector<std::tuple<A...>> items, std::size_t chunksize = 0) {
    return StarmapAsync(f, std::move(items), chunksize).Get();
  }
  template <typename F, typename... A, typename Callback = std::nullptr_t,
            typename ErrorCallback = std::nullptr_t,
            typename R = TaskResult<F, A...>>
  MapResult<R> StarmapAsync(F f, std::vector<std::tuple<A...>> items,
                            std::size_t chunksize = 0,
                            Callback callback = nullptr,
                            ErrorCallback error_callback = nullptr);

  // imap(f, iterable, chunksize=1): results in order as they come. The
  // input is read lazily, on the pool's thread, as workers become free: the
  // range [begin, end) must stay valid until the iterator reaches its end.
  template <typename F, typename It,
            typename R = TaskResult<F, decltype(*std::declval<It>())>>
  ImapIterator<R> Imap(F f, It begin, It end, std::size_t chunksize = 1) {
    return Iterate<R>(pool_internal::ResultState<R>::Mode::kOrdered, f, begin,
                      end, chunksize);
  }
  // imap_unordered: the same, in completion order.
  template <typename F, typename It,
            typename R = TaskResult<F, decltype(*std::declval<It>())>>
  ImapIterator<R> ImapUnordered(F f, It begin, It end,
                                std::size_t chunksize = 1) {
    return Iterate<R>(pool_internal::ResultState<R>::Mode::kUnordered, f, begin,
                      end, chunksize);
  }

  // close(): no more tasks; the workers exit once the submitted ones are
  // done.
  void Close();
  // terminate(): stops the workers at once (SIGTERM, then SIGKILL); what has
  // not finished fails with kCancelled.
  void Terminate();
  // join(): waits for the workers to exit, after Close() or Terminate()
  // (before: kInvalidArgument, Python's ValueError). Afterwards the pool's
  // thread, pipes and processes are gone.
  [[nodiscard]] absl::Status Join();

  // The number of workers.
  int processes() const;
  // The pids of the current workers (they change as workers are replaced).
  std::vector<int64_t> WorkerPids() const;

 private:
  // A pool whose workers are not this process's children: the MPI backend
  // (pool/mpi/mpi_pool.h) makes its pools with pool_internal::MakePool.
  friend struct pool_internal::PoolFactory;
  explicit Pool(std::shared_ptr<pool_internal::Backend> core);

  // How the workers will find f: its registered name, or (fork) its index
  // in the callables table. kInvalidArgument under spawn for a function
  // that is not registered.
  template <typename F, typename Args>
  [[nodiscard]] absl::Status Locate(F& f, pool_internal::Job* job) {
    if constexpr (std::is_pointer_v<F> &&
                  std::is_function_v<std::remove_pointer_t<F>>) {
      if (const std::string* name = pool_internal::FindTaskName(
              reinterpret_cast<pool_internal::ErasedFunction>(f))) {
        job->task_name = *name;
        return absl::OkStatus();
      }
    }
    if (start_method() != StartMethod::kFork) {
      return absl::InvalidArgumentError(
          "pool: under the spawn start method a task must be a function "
          "registered with MP_REGISTER_TASK (lambdas and function objects run "
          "only in forked workers)");
    }
    if constexpr (std::is_pointer_v<F> &&
                  std::is_function_v<std::remove_pointer_t<F>>) {
      // One table entry per function, however often it is used.
      static std::mutex mu;
      static std::map<F, int64_t>* known = new std::map<F, int64_t>;
      std::lock_guard<std::mutex> lock(mu);
      auto it = known->find(f);
      if (it == known->end()) {
        it =
            known
                ->emplace(
                    f, pool_internal::AddCallable([f](absl::string_view chunk,
                                                      bool spread) mutable {
                      return pool_internal::RunChunk<F, Args>(f, chunk, spread);
                    }))
                .first;
      }
      job->callable = it->second;
    } else {
      job->callable = pool_internal::AddCallable(
          [f](absl::string_view chunk, bool spread) mutable {
            return pool_internal::RunChunk<F, Args>(f, chunk, spread);
          });
    }
    return absl::OkStatus();
  }
  [[nodiscard]] absl::Status Submit(std::shared_ptr<pool_internal::Job> job);
  StartMethod start_method() const;
  int workers() const { return processes(); }

  // Submits f over `items`: argument tuples (spread) or single arguments.
  template <typename R, typename Args, typename F, typename Item>
  std::shared_ptr<pool_internal::ResultState<R>> SubmitList(
      typename pool_internal::ResultState<R>::Mode mode, F& f,
      std::vector<Item> items, std::size_t chunksize, bool spread,
      std::function<void(const R&)> on_value,
      std::function<void(const std::vector<R>&)> on_values,
      std::function<void(const absl::Status&)> on_error) {
    const std::size_t size = items.size();
    if (chunksize == 0) {
      chunksize = pool_internal::DefaultChunksize(size, workers());
    }
    auto shared = std::make_shared<std::vector<Item>>(std::move(items));
    auto next = std::make_shared<std::size_t>(0);
    auto state = std::make_shared<pool_internal::ResultState<R>>(
        mode, [shared, next, chunksize](std::string* chunk, std::size_t* count,
                                        absl::Status* error) {
          if (*next >= shared->size()) return false;
          *count = std::min(chunksize, shared->size() - *next);
          *error =
              pool_internal::EncodeChunk(shared->data() + *next, *count, chunk);
          *next += *count;
          return true;
        });
    state->spread = spread;
    state->on_value = std::move(on_value);
    state->on_values = std::move(on_values);
    state->on_error = std::move(on_error);
    absl::Status s = Locate<F, Args>(f, state.get());
    if (s.ok()) s = Submit(state);
    if (!s.ok()) {
      state->Fail(0, 1, s);
      state->InputDone(1);
    }
    return state;
  }

  template <typename R, typename F, typename It>
  ImapIterator<R> Iterate(typename pool_internal::ResultState<R>::Mode mode,
                          F f, It begin, It end, std::size_t chunksize) {
    using T = std::decay_t<decltype(*begin)>;
    using Args = std::tuple<T>;
    if (chunksize == 0) chunksize = 1;
    auto cursor = std::make_shared<std::pair<It, It>>(begin, end);
    auto state = std::make_shared<pool_internal::ResultState<R>>(
        mode, [cursor, chunksize](std::string* chunk, std::size_t* count,
                                  absl::Status* error) {
          std::vector<T> args;
          while (args.size() < chunksize && cursor->first != cursor->second) {
            args.emplace_back(*cursor->first);
            ++cursor->first;
          }
          if (args.empty()) return false;
          *count = args.size();
          chunk->clear();
          *error = Encode(args, chunk);
          return true;
        });
    state->spread = false;
    absl::Status s = Locate<F, Args>(f, state.get());
    if (s.ok()) s = Submit(state);
    if (!s.ok()) {
      state->Fail(0, 1, s);
      state->InputDone(1);
    }
    return ImapIterator<R>(state);
  }

  std::shared_ptr<pool_internal::Backend> core_;
};

namespace pool_internal {
struct PoolFactory {
  static Pool Make(std::shared_ptr<Backend> backend) {
    return Pool(std::move(backend));
  }
};
}  // namespace pool_internal

// ---------------------------------------------------------------------------

template <typename F, typename... A>
Pool::Options& Pool::Options::set_initializer(F f, A... args) {
  std::tuple<A...> bound(std::move(args)...);
  init_fork = [f, bound]() mutable {
    auto call = [&]() -> absl::Status {
      using Raw = decltype(std::apply(f, bound));
      if constexpr (std::is_same_v<std::decay_t<Raw>, absl::Status>) {
        return std::apply(f, bound);
      } else {
        std::apply(f, bound);
        return absl::OkStatus();
      }
    };
    absl::Status s = call();
    if (!s.ok()) {
      // The worker reports it for every task it is given.
      pool_internal::SetInitializerError(s);
    }
  };
  init_name.clear();
  init_args.clear();
  init_status = absl::OkStatus();
  if constexpr (std::is_pointer_v<F> &&
                std::is_function_v<std::remove_pointer_t<F>>) {
    const std::string* name = pool_internal::FindTaskName(
        reinterpret_cast<pool_internal::ErasedFunction>(f));
    if (name != nullptr) {
      init_name = *name;
      init_status = Encode(std::vector<std::tuple<A...>>{bound}, &init_args);
    }
  }
  return *this;
}

template <typename F, typename... A, typename Callback, typename ErrorCallback,
          typename R>
AsyncResult<R> Pool::ApplyAsyncWithCallbacks(F f, std::tuple<A...> args,
                                             Callback callback,
                                             ErrorCallback error_callback) {
  using Args = std::tuple<std::decay_t<A>...>;
  std::vector<Args> one;
  one.push_back(std::move(args));
  return AsyncResult<R>(SubmitList<R, Args>(
      pool_internal::ResultState<R>::Mode::kSingle, f, std::move(one), 1,
      /*spread=*/true, std::function<void(const R&)>(std::move(callback)), {},
      std::function<void(const absl::Status&)>(std::move(error_callback))));
}

template <typename F, typename T, typename Callback, typename ErrorCallback,
          typename R>
MapResult<R> Pool::MapAsync(F f, std::vector<T> items, std::size_t chunksize,
                            Callback callback, ErrorCallback error_callback) {
  using Args = std::tuple<T>;
  return MapResult<R>(SubmitList<R, Args>(
      pool_internal::ResultState<R>::Mode::kList, f, std::move(items),
      chunksize, /*spread=*/false, {},
      std::function<void(const std::vector<R>&)>(std::move(callback)),
      std::function<void(const absl::Status&)>(std::move(error_callback))));
}

template <typename F, typename... A, typename Callback, typename ErrorCallback,
          typename R>
MapResult<R> Pool::StarmapAsync(F f, std::vector<std::tuple<A...>> items,
                                std::size_t chunksize, Callback callback,
                                ErrorCallback error_callback) {
  using Args = std::tuple<A...>;
  return MapResult<R>(SubmitList<R, Args>(
      pool_internal::ResultState<R>::Mode::kList, f, std::move(items),
      chunksize, /*spread=*/true, {},
      std::function<void(const std::vector<R>&)>(std::move(callback)),
      std::function<void(const absl::Status&)>(std::move(error_callback))));
}

}  // namespace mp

#endif  // MULTIPROCESSING_POOL_POOL_H_
