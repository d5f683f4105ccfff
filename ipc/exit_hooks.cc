#include "ipc/exit_hooks.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "absl/base/const_init.h"
#include "absl/synchronization/mutex.h"

namespace mp {
namespace {

absl::Mutex mu(absl::kConstInit);
std::vector<void (*)()>* hooks = nullptr;  // never destroyed

}  // namespace

void AddExitHook(void (*hook)()) {
  absl::MutexLock lock(&mu);
  if (hooks == nullptr) {
    hooks = new std::vector<void (*)()>;
    std::atexit(RunExitHooks);
  }
  if (std::find(hooks->begin(), hooks->end(), hook) == hooks->end()) {
    hooks->push_back(hook);
  }
}

void RunExitHooks() {
  std::vector<void (*)()> copy;
  {
    absl::MutexLock lock(&mu);
    if (hooks != nullptr) copy = *hooks;
  }
  for (void (*hook)() : copy) hook();
}

}  // namespace mp
