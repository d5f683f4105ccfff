// Internal to //pool: how a task crosses to a worker and back.
//
// A task is a chunk of calls of one function: the parent pickles the chunk's
// argument tuples (a list of tuples), the worker decodes them, calls the
// function on each and pickles one outcome per call:
//   (True, result, 0, b'')  or  (False, None, status code, b'message').
// The function is found in the worker either by name in the task registry
// (MP_REGISTER_TASK; spawn, and fork for registered functions) or, under
// fork only, by its index in this process's table of callables, which a
// worker inherits as it was when the worker was forked.
#ifndef MULTIPROCESSING_POOL_INTERNAL_TASK_H_
#define MULTIPROCESSING_POOL_INTERNAL_TASK_H_

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "multiprocessing/ipc/codec.h"

namespace mp {

// What a task returning Raw gives its caller (mp::TaskResult in
// pool/pool.h): the value; std::monostate (None) for void and absl::Status;
// T for absl::StatusOr<T>.
template <typename Raw>
struct TaskResultOf {
  using type = std::decay_t<Raw>;
};
template <>
struct TaskResultOf<void> {
  using type = std::monostate;
};
template <>
struct TaskResultOf<absl::Status> {
  using type = std::monostate;
};
template <typename T>
struct TaskResultOf<absl::StatusOr<T>> {
  using type = T;
};

}  // namespace mp

namespace mp::pool_internal {

// One call's outcome on the wire.
template <typename R>
using Outcome = std::tuple<bool, std::optional<R>, int, Bytes>;

template <typename R>
Outcome<R> Failed(const absl::Status& s) {
  return Outcome<R>(false, std::nullopt, static_cast<int>(s.code()),
                    Bytes(std::string(s.message())));
}

// Calls f with the tuple's elements (kSpread) or with the one argument; an
// error or exception becomes a failed outcome.
template <bool kSpread, typename F, typename Item>
decltype(auto) Invoke(F& f, Item& item) {
  if constexpr (kSpread) {
    return std::apply(f, item);
  } else {
    return std::invoke(f, item);
  }
}

template <bool kSpread, typename F, typename Item>
auto Call(F& f, Item& args) {
  using Raw = decltype(Invoke<kSpread>(f, args));
  using R = typename TaskResultOf<Raw>::type;
  auto call = [&]() -> Outcome<R> {
    if constexpr (std::is_void_v<Raw>) {
      Invoke<kSpread>(f, args);
      return Outcome<R>(true, R{}, 0, Bytes());
    } else if constexpr (std::is_same_v<std::decay_t<Raw>, absl::Status>) {
      absl::Status s = Invoke<kSpread>(f, args);
      if (!s.ok()) return Failed<R>(s);
      return Outcome<R>(true, R{}, 0, Bytes());
    } else if constexpr (!std::is_same_v<R, std::decay_t<Raw>>) {
      Raw v = Invoke<kSpread>(f, args);  // a StatusOr
      if (!v.ok()) return Failed<R>(v.status());
      return Outcome<R>(true, std::move(*v), 0, Bytes());
    } else {
      return Outcome<R>(true, Invoke<kSpread>(f, args), 0, Bytes());
    }
  };
#ifdef ABSL_HAVE_EXCEPTIONS
  try {
    return call();
  } catch (const std::exception& e) {
    return Failed<R>(absl::UnknownError(
        absl::StrCat("task raised an exception: ", e.what())));
  } catch (...) {
    return Failed<R>(absl::UnknownError("task raised an unknown exception"));
  }
#else
  return call();
#endif
}

// A chunk's results on the wire: (True, [result, ...]) when every call
// succeeded (the common case: one value per call), else (False, [outcome,
// ...]) with one outcome per call, or a single failed outcome when the chunk
// itself could not be read.
template <typename R>
struct ChunkResults {
  bool ok = true;
  std::vector<R> values;
  std::vector<Outcome<R>> outcomes;
};

// Runs a chunk: decodes the items (argument tuples when kSpread, else single
// arguments), calls f on each, returns the pickled ChunkResults.
template <bool kSpread, typename F, typename Item>
std::string RunItems(F& f, absl::string_view chunk) {
  using R = typename TaskResultOf<decltype(Invoke<kSpread>(
      f, std::declval<Item&>()))>::type;
  ChunkResults<R> results;
  absl::StatusOr<std::vector<Item>> args = Decode<std::vector<Item>>(chunk);
  if (!args.ok()) {
    results.ok = false;
    results.outcomes.push_back(Failed<R>(args.status()));
  } else {
    results.outcomes.reserve(args->size());
    for (Item& a : *args) {
      results.outcomes.push_back(Call<kSpread>(f, a));
      results.ok = results.ok && std::get<0>(results.outcomes.back());
    }
  }
  if (results.ok) {
    results.values.reserve(results.outcomes.size());
    for (Outcome<R>& o : results.outcomes) {
      results.values.push_back(std::get<1>(o) ? std::move(*std::get<1>(o))
                                              : R{});
    }
    results.outcomes.clear();
  }
  std::string out;
  absl::Status s = Encode(results, &out);
  if (!s.ok()) {
    out.clear();
    ChunkResults<R> failed;
    failed.ok = false;
    failed.outcomes.push_back(Failed<R>(s));
    Encode(failed, &out).IgnoreError();
  }
  return out;
}

// f over a chunk whose items are argument tuples (spread: starmap, apply)
// or, for a function of one parameter, the arguments themselves (map, imap:
// less to encode and decode per item).
template <typename F, typename Args>
std::string RunChunk(F& f, absl::string_view chunk, bool spread) {
  if constexpr (std::tuple_size_v<Args> == 1) {
    if (!spread) {
      return RunItems<false, F, std::tuple_element_t<0, Args>>(f, chunk);
    }
  }
  return RunItems<true, F, Args>(f, chunk);
}

// A worker's view of a task function: chunk in, outcomes out.
using ChunkRunner =
    std::function<std::string(absl::string_view chunk, bool spread)>;

// The task registry (spawn): name -> runner. Registering two functions under
// one name aborts at start-up (a build mistake).
using ErasedFunction = void (*)();
bool RegisterTask(const char* name, ErasedFunction function,
                  std::string (*run)(ErasedFunction, absl::string_view, bool));
// The registered name of a function, or nullptr.
const std::string* FindTaskName(ErasedFunction function);
// The runner registered under `name`, or nullptr.
std::optional<ChunkRunner> FindTask(absl::string_view name);

template <typename R, typename... A>
std::string RunRegistered(ErasedFunction function, absl::string_view chunk,
                          bool spread) {
  auto f = reinterpret_cast<R (*)(A...)>(function);
  return RunChunk<decltype(f), std::tuple<std::decay_t<A>...>>(f, chunk,
                                                               spread);
}

template <typename R, typename... A>
bool RegisterTaskFunction(const char* name, R (*function)(A...)) {
  return RegisterTask(name, reinterpret_cast<ErasedFunction>(function),
                      &RunRegistered<R, A...>);
}

// In a worker: the initializer failed; every task then fails with this.
void SetInitializerError(absl::Status status);
// In a worker: runs the initializer registered as `init_name` (nothing when
// empty) on its pickled argument tuple, recording its error as above.
void RunNamedInitializer(const std::string& init_name,
                         absl::string_view init_args);

// The table of callables (fork): index -> runner. Append-only.
int64_t AddCallable(ChunkRunner runner);
// The runners as they are now (a worker keeps this copy).
std::vector<std::shared_ptr<const ChunkRunner>> CallablesSnapshot();

}  // namespace mp::pool_internal

namespace mp {
template <typename R>
struct Codec<pool_internal::ChunkResults<R>> {
  static void Encode(const pool_internal::ChunkResults<R>& r, Encoder& e) {
    if (r.ok) {
      e.EncodeTuple(true, r.values);
    } else {
      e.EncodeTuple(false, r.outcomes);
    }
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d,
                                           pool_internal::ChunkResults<R>* r) {
    if (absl::Status s = d.ExpectType({PyType::kTuple}, "tuple"); !s.ok()) {
      return s;
    }
    if (d.size() != 2) return d.TypeError("a pair");
    int i = 0;
    return d.ForEach([&](Decoder& element) {
      if (i++ == 0) return element.ReadBool(&r->ok);
      return r->ok ? element.Decode(&r->values) : element.Decode(&r->outcomes);
    });
  }
};
}  // namespace mp

#define MP_INTERNAL_POOL_CONCAT2(a, b) a##b
#define MP_INTERNAL_POOL_CONCAT(a, b) MP_INTERNAL_POOL_CONCAT2(a, b)

// MP_REGISTER_TASK(Function): lets Pool workers started by spawn (and on
// Windows) run Function, which may return any encodable type (or void,
// absl::Status, absl::StatusOr<T>). Write it at namespace scope after the
// function, in a file linked into the binary, like MP_REGISTER_TARGET.
#define MP_REGISTER_TASK(function)                            \
  [[maybe_unused]] static const bool MP_INTERNAL_POOL_CONCAT( \
      mp_registered_task_, __COUNTER__) =                     \
      ::mp::pool_internal::RegisterTaskFunction(#function, &function)

#endif  // MULTIPROCESSING_POOL_INTERNAL_TASK_H_
