#include "multiprocessing/process/target.h"

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#if __has_include(<cxxabi.h>)
#include <cxxabi.h>
#endif

namespace mp::process_internal {
namespace {

std::mutex mu;

// Filled by static initialisers, read afterwards; never destroyed. A deque:
// found entries stay where they are while others are added.
std::deque<RegisteredTarget>& Table() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
  static auto* table = new std::deque<RegisteredTarget>;
  return *table;
}

template <typename Pred>
const RegisteredTarget* Find(Pred pred) {
  std::lock_guard<std::mutex> lock(mu);
  for (const RegisteredTarget& t : Table()) {
    if (pred(t)) return &t;  // entries are never removed
  }
  return nullptr;
}

}  // namespace

bool RegisterTarget(const char* name, ErasedFunction function,
                    RegisteredTarget::Binder bind) {
  std::lock_guard<std::mutex> lock(mu);
  std::deque<RegisteredTarget>& table = Table();
  for (const RegisteredTarget& t : table) {
    if (t.name != name) continue;
    if (t.function == function) return true;  // registered twice: harmless
    std::fprintf(stderr,
                 "MP_REGISTER_TARGET: two different functions are registered "
                 "as \"%s\"; qualify one of the names\n",
                 name);
    std::abort();
  }
  table.push_back(RegisteredTarget{name, function, bind});
  return true;
}

const RegisteredTarget* FindTarget(absl::string_view name) {
  return Find([name](const RegisteredTarget& t) { return t.name == name; });
}

const RegisteredTarget* FindTarget(ErasedFunction function) {
  if (function == nullptr) return nullptr;
  return Find(
      [function](const RegisteredTarget& t) { return t.function == function; });
}

bool RegisterProcessClass(const char* name, const std::type_info& type,
                          RegisteredTarget::Binder bind,
                          RegisteredTarget::ClassEncoder encode) {
  std::lock_guard<std::mutex> lock(mu);
  std::deque<RegisteredTarget>& table = Table();
  for (const RegisteredTarget& t : table) {
    if (t.name != name) continue;
    if (t.type != nullptr && *t.type == type) return true;
    std::fprintf(stderr,
                 "MP_REGISTER_PROCESS: \"%s\" is registered twice, for "
                 "different targets or classes; qualify one of the names\n",
                 name);
    std::abort();
  }
  table.push_back(RegisteredTarget{name, nullptr, bind, &type, encode});
  return true;
}

const RegisteredTarget* FindProcessClass(const std::type_info& type) {
  return Find([&type](const RegisteredTarget& t) {
    return t.type != nullptr && *t.type == type;
  });
}

std::string ArgumentName(int position, const std::type_info& type) {
  std::string name = type.name();
#if __has_include(<cxxabi.h>)
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), &std::free);
  if (status == 0 && demangled != nullptr) name = demangled.get();
#endif
  return absl::StrCat("argument ", position, " (", name, ")");
}

absl::Status NoCodecError(const std::vector<std::string>& arguments) {
  return absl::InvalidArgumentError(absl::StrCat(
      "spawn: ", absl::StrJoin(arguments, ", "),
      arguments.size() == 1 ? " has" : " have",
      " no mp::Codec, so this target's arguments cannot be passed to a "
      "spawned process (specialise mp::Codec: multiprocessing/ipc/codec.h); "
      "the fork start method can pass them"));
}

}  // namespace mp::process_internal
