#include "multiprocessing/ipc/exit_hooks.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <vector>


namespace mp {
namespace {

std::mutex mu;
std::vector<void (*)()>* hooks = nullptr;  // never destroyed

}  // namespace

void AddExitHook(void (*hook)()) {
  std::lock_guard<std::mutex> lock(mu);
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
    std::lock_guard<std::mutex> lock(mu);
    if (hooks != nullptr) copy = *hooks;
  }
  for (void (*hook)() : copy) hook();
}

}  // namespace mp
