// What a child process runs: a target bound to its arguments, and the table
// of targets registered by name for the spawn start method. Internal to
// //process, except MP_REGISTER_TARGET (through process/process.h).
#ifndef MULTIPROCESSING_PROCESS_TARGET_H_
#define MULTIPROCESSING_PROCESS_TARGET_H_

#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "multiprocessing/ipc/codec.h"

namespace mp::process_internal {

// A function pointer with its type erased (the table's key).
using ErasedFunction = void (*)();

// What the child runs: the target bound to its arguments.
class Target {
 public:
  virtual ~Target() = default;
  // Runs the target; its exit code, or the error it returned.
  [[nodiscard]] virtual absl::StatusOr<int> Run() = 0;
  // The handles the arguments carry into the child (for fork): those the
  // codec meets when it encodes them, the same ones spawn passes. An
  // argument that cannot be handed over (CollectHandles) is an error.
  [[nodiscard]] virtual absl::StatusOr<HandleList> Handles() = 0;
  // The target when it is a plain function (spawn looks it up in the table),
  // else nullptr (a lambda or function object: fork only).
  virtual ErasedFunction function() const = 0;
  // Appends the arguments, pickled as one tuple (ipc/codec.h), for spawn;
  // the handles they carry are recorded in *handles.
  [[nodiscard]] virtual absl::Status EncodeArguments(std::string* out,
                                                     HandleTable* handles) = 0;
};

// std::ref'd arguments reach the target as the referenced object.
template <typename T>
T& Unwrap(T& value) {
  return value;
}
template <typename T>
T& Unwrap(std::reference_wrapper<T>& ref) {
  return ref.get();
}
template <typename T>
using Unwrapped = decltype(Unwrap(std::declval<T&>()));

// "argument 2 (Config)": a parameter's position (from 1) and its type,
// demangled where the compiler allows.
std::string ArgumentName(int position, const std::type_info& type);
// Spawn's error for arguments with no Codec, naming them.
[[nodiscard]] absl::Status NoCodecError(
    const std::vector<std::string>& arguments);

// Records in *table the handles `value` carries, by encoding it (a pointer:
// what it points to, as kept by the sender, like std::ref). Values with no
// Codec carry none. Only a kFailedPrecondition from the encoding is
// returned (a Connection with bytes received ahead: forking would copy
// them); other failures (a str that is not UTF-8) do not matter to fork.
template <typename T>
[[nodiscard]] absl::Status CollectHandles(const T& value, HandleTable* table,
                                          std::string* scratch) {
  if constexpr (std::is_pointer_v<T> &&
                !std::is_function_v<std::remove_pointer_t<T>>) {
    if (value == nullptr) return absl::OkStatus();
    return CollectHandles(std::cref(*value), table, scratch);
  } else if constexpr (IsEncodable<T>::value) {
    scratch->clear();
    absl::Status s = Encode(value, scratch, table);
    if (s.code() == absl::StatusCode::kFailedPrecondition) return s;
  }
  return absl::OkStatus();
}

// The exit code for what a target returned: int (the code), void (0) or
// absl::Status (OK: 0, else the error).
template <typename Call>
[[nodiscard]] absl::StatusOr<int> ExitCodeOf(Call&& call) {
  using R = decltype(call());
  if constexpr (std::is_void_v<R>) {
    call();
    return 0;
  } else if constexpr (std::is_same_v<std::decay_t<R>, absl::Status>) {
    absl::Status status = call();
    if (status.ok()) return 0;
    return status;
  } else {
    static_assert(std::is_integral_v<R> && !std::is_same_v<R, bool>,
                  "a Process target returns int (the exit code), void or "
                  "absl::Status (bool is ambiguous: return an int)");
    return static_cast<int>(call());
  }
}

template <typename F, typename... Args>
class BoundTarget final : public Target {
 public:
  template <typename G, typename... A>
  explicit BoundTarget(G&& f, A&&... args)
      : f_(std::forward<G>(f)), args_(std::forward<A>(args)...) {}

  [[nodiscard]] absl::StatusOr<int> Run() override {
    return ExitCodeOf([this]() -> decltype(auto) {
      return std::apply(
          [this](auto&... a) -> decltype(auto) {
            return std::invoke(f_, Unwrap(a)...);
          },
          args_);
    });
  }

  // std::ref'd and pointed-to arguments are encoded as kept by the sender
  // (Encoder::KeptBySender): the parent keeps them after Start().
  [[nodiscard]] absl::StatusOr<HandleList> Handles() override {
    HandleTable table;
    std::string scratch;
    absl::Status status;
    std::apply(
        [&](auto&... a) {
          ((status.ok() ? status = CollectHandles(a, &table, &scratch)
                        : status),
           ...);
        },
        args_);
    if (!status.ok()) return status;
    return table.handles();
  }

  ErasedFunction function() const override {
    if constexpr (std::is_pointer_v<F> &&
                  std::is_function_v<std::remove_pointer_t<F>>) {
      return reinterpret_cast<ErasedFunction>(f_);
    } else {
      return nullptr;
    }
  }

  [[nodiscard]] absl::Status EncodeArguments(std::string* out,
                                             HandleTable* handles) override {
    if constexpr ((IsEncodable<std::decay_t<Unwrapped<Args>>>::value && ...)) {
      return std::apply(
          [&](auto&... a) {
            // std::ref'd ones as such: Codec<std::reference_wrapper>.
            return codec_internal::EncodeImpl(std::forward_as_tuple(a...), out,
                                              handles);
          },
          args_);
    } else {
      std::vector<std::string> missing;
      int position = 0;
      ((++position,
        IsEncodable<std::decay_t<Unwrapped<Args>>>::value
            ? void()
            : missing.push_back(ArgumentName(
                  position, typeid(std::decay_t<Unwrapped<Args>>)))),
       ...);
      return NoCodecError(missing);
    }
  }

 private:
  F f_;
  std::tuple<Args...> args_;
};

// A registered target: `bind` decodes encoded arguments and binds them to
// the function. A registered Process class (MP_REGISTER_PROCESS in
// process.h) has no function but its type, and `encode`, which encodes the
// constructor arguments of a Process of that class (given as a
// const mp::Process*, which this header cannot name); its `bind` constructs
// one from them.
struct RegisteredTarget {
  using Binder = absl::StatusOr<std::unique_ptr<Target>> (*)(
      ErasedFunction function, absl::string_view encoded_arguments,
      HandleTable* handles);
  using ClassEncoder = absl::Status (*)(const void* process, std::string* out,
                                        HandleTable* handles);
  std::string name;
  ErasedFunction function = nullptr;
  Binder bind = nullptr;
  const std::type_info* type = nullptr;  // a Process class
  ClassEncoder encode = nullptr;         // a Process class
};

// Adds a target to the table. Registering two functions under one name
// aborts the program at start-up with a message (it is a build mistake).
bool RegisterTarget(const char* name, ErasedFunction function,
                    RegisteredTarget::Binder bind);
const RegisteredTarget* FindTarget(absl::string_view name);
const RegisteredTarget* FindTarget(ErasedFunction function);
// The same for Process classes: two classes under one name abort too.
bool RegisterProcessClass(const char* name, const std::type_info& type,
                          RegisteredTarget::Binder bind,
                          RegisteredTarget::ClassEncoder encode);
const RegisteredTarget* FindProcessClass(const std::type_info& type);

// std::tuple<const A&, B> -> std::tuple<A, B>: what a Process class's
// ConstructorArguments() decodes to in a spawned child.
template <typename Tuple>
struct DecayedTuple;
template <typename... E>
struct DecayedTuple<std::tuple<E...>> {
  using type = std::tuple<std::decay_t<E>...>;
};

template <typename R, typename... A>
[[nodiscard]] absl::StatusOr<std::unique_ptr<Target>> Bind(
    ErasedFunction function, absl::string_view encoded, HandleTable* handles) {
  using Tuple = std::tuple<std::decay_t<A>...>;
  absl::StatusOr<Tuple> args = Decode<Tuple>(encoded, handles);
  if (!args.ok()) return args.status();
  return std::apply(
      [function](auto&... a) -> std::unique_ptr<Target> {
        return std::make_unique<BoundTarget<R (*)(A...), std::decay_t<A>...>>(
            reinterpret_cast<R (*)(A...)>(function), std::move(a)...);
      },
      *args);
}

template <typename R, typename... A>
bool Register(const char* name, R (*function)(A...)) {
  return RegisterTarget(name, reinterpret_cast<ErasedFunction>(function),
                        &Bind<R, A...>);
}

}  // namespace mp::process_internal

#define MP_INTERNAL_CONCAT2(a, b) a##b
#define MP_INTERNAL_CONCAT(a, b) MP_INTERNAL_CONCAT2(a, b)

// MP_REGISTER_TARGET(Function): lets a spawned process run Function. Write it
// at namespace scope, after the function, in a file linked into the binary
// (a cc_library file needs alwayslink = True, or the linker drops the
// registration). The name is the spelling given, so register functions of
// different namespaces under distinct spellings (MP_REGISTER_TARGET(a::Run),
// MP_REGISTER_TARGET(b::Run)). Every parameter type needs an mp::Codec
// (ipc/codec.h): Connection and Queue have one, so they can be passed.
#define MP_REGISTER_TARGET(function)                                           \
  [[maybe_unused]] static const bool MP_INTERNAL_CONCAT(mp_registered_target_, \
                                                        __COUNTER__) =         \
      ::mp::process_internal::Register(#function, &function)

#endif  // MULTIPROCESSING_PROCESS_TARGET_H_
