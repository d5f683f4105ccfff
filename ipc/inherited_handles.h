// Which native handles a value carries into a child process.
//
// When a value is passed as an argument to mp::Process, the child keeps
// exactly the handles this trait finds in the arguments (plus stdin, stdout
// and stderr); every other descriptor is closed in the child. Types that own
// handles (Connection, Queue) specialise InheritedHandles.
//
// With the spawn start method the arguments are encoded (ipc/codec.h) and a
// handle travels as its number: the child inherits the handle under the same
// number, and decoding the argument claims it with ClaimInheritedHandle().
// Only the handles the parent listed in the child's bootstrap message can be
// claimed, each once, so a number arriving any other way (a Connection sent
// as a message) is an error, never a stranger's descriptor.
#ifndef MULTIPROCESSING_IPC_INHERITED_HANDLES_H_
#define MULTIPROCESSING_IPC_INHERITED_HANDLES_H_

#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "platform/handle.h"

namespace mp {

using HandleList = std::vector<platform::NativeHandle>;

// The default: a value carries no handle.
template <typename T, typename Enable = void>
struct InheritedHandles {
  static void Append(const T&, HandleList*) {}
};

// Appends the handles `value` carries to *out.
template <typename T>
void AppendInheritedHandles(const T& value, HandleList* out) {
  InheritedHandles<std::decay_t<T>>::Append(value, out);
}

template <typename T>
struct InheritedHandles<std::reference_wrapper<T>> {
  static void Append(const std::reference_wrapper<T>& r, HandleList* out) {
    AppendInheritedHandles(r.get(), out);
  }
};

template <typename T>
struct InheritedHandles<T*, std::enable_if_t<!std::is_function_v<T>>> {
  static void Append(T* p, HandleList* out) {
    if (p != nullptr) AppendInheritedHandles(*p, out);
  }
};

template <typename A, typename B>
struct InheritedHandles<std::pair<A, B>> {
  static void Append(const std::pair<A, B>& p, HandleList* out) {
    AppendInheritedHandles(p.first, out);
    AppendInheritedHandles(p.second, out);
  }
};

template <typename... Ts>
struct InheritedHandles<std::tuple<Ts...>> {
  static void Append(const std::tuple<Ts...>& t, HandleList* out) {
    std::apply([out](const auto&... v) { (AppendInheritedHandles(v, out), ...); }, t);
  }
};

template <typename T, typename A>
struct InheritedHandles<std::vector<T, A>> {
  static void Append(const std::vector<T, A>& v, HandleList* out) {
    for (const T& e : v) AppendInheritedHandles(e, out);
  }
};

template <typename T>
struct InheritedHandles<std::optional<T>> {
  static void Append(const std::optional<T>& v, HandleList* out) {
    if (v) AppendInheritedHandles(*v, out);
  }
};

// Takes ownership of `handle`, inherited from the parent that spawned this
// process. kInvalidArgument unless the parent listed it and nothing claimed
// it yet.
absl::StatusOr<platform::ScopedHandle> ClaimInheritedHandle(
    platform::NativeHandle handle);

namespace ipc_internal {
// Called once by mp::Init in a spawned child: the handles its parent passed,
// which the child now owns until they are claimed.
void SetClaimableHandles(absl::Span<const platform::NativeHandle> handles);
// Closes the handles nobody claimed (arguments that failed to decode).
void CloseUnclaimedHandles();
}  // namespace ipc_internal

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_INHERITED_HANDLES_H_
