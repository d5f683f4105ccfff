#include "multiprocessing/process/target.h"

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>

#include "absl/base/thread_annotations.h"

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
  return Find(
      [function](const RegisteredTarget& t) { return t.function == function; });
}

}  // namespace mp::process_internal
