#include "process/registry.h"

#include <utility>

#include "absl/time/time.h"

namespace mp::process_internal {

ChildRegistry& ChildRegistry::Get() {
  static ChildRegistry* const registry = new ChildRegistry;
  return *registry;
}

ChildRegistry::ChildRegistry() : owner_(platform::CurrentProcessId()) {}

void ChildRegistry::Add(platform::ProcessId pid) {
  absl::MutexLock lock(&mu_);
  ForgetIfForkedLocked();
  children_[pid] = std::nullopt;
}

void ChildRegistry::Remove(platform::ProcessId pid) {
  absl::MutexLock lock(&mu_);
  ForgetIfForkedLocked();
  children_.erase(pid);
}

void ChildRegistry::Adopt(platform::ChildProcess child) {
  absl::MutexLock lock(&mu_);
  ForgetIfForkedLocked();
  const platform::ProcessId pid = child.pid;
  children_[pid] = std::move(child);
}

void ChildRegistry::ReapFinished() {
  absl::MutexLock lock(&mu_);
  ForgetIfForkedLocked();
  for (auto it = children_.begin(); it != children_.end();) {
    auto current = it++;
    if (!current->second.has_value()) continue;  // its Process reaps it
    absl::StatusOr<std::optional<int>> exit =
        platform::WaitForExit(*current->second, absl::ZeroDuration());
    // An error means it cannot be reaped by us (someone else did): forget it.
    if (!exit.ok() || exit->has_value()) children_.erase(current);
  }
}

std::vector<platform::ProcessId> ChildRegistry::Pids() {
  absl::MutexLock lock(&mu_);
  ForgetIfForkedLocked();
  std::vector<platform::ProcessId> pids;
  pids.reserve(children_.size());
  for (const auto& [pid, child] : children_) pids.push_back(pid);
  return pids;
}

void ChildRegistry::ForgetIfForkedLocked() {
  const platform::ProcessId self = platform::CurrentProcessId();
  if (owner_ == self) return;
  owner_ = self;
  for (auto& [pid, child] : children_) {
    // The fork closed the child's copy of each sentinel and its number may
    // have been reused since: give it up without closing it.
    if (child.has_value()) child->sentinel.release();
  }
  children_.clear();
}

}  // namespace mp::process_internal
