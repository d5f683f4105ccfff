#include "multiprocessing/process/registry.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <utility>

#include "multiprocessing/platform/poll.h"

namespace mp::process_internal {

ChildRecord::ChildRecord(platform::ChildProcess child, std::string name,
                         bool daemon)
    : child_(std::move(child)), name_(std::move(name)), daemon_(daemon) {}

absl::StatusOr<std::optional<int>> ChildRecord::Wait(
    std::optional<absl::Duration> timeout) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (exitcode_.has_value()) return exitcode_;
  }
  // Wait without the lock, so other threads can poll meanwhile; the
  // sentinel stays readable once the child has exited.
  const platform::NativeHandle h = child_.sentinel.get();
  absl::StatusOr<std::vector<std::size_t>> ready =
      platform::WaitReadable({&h, 1}, timeout);
  if (!ready.ok()) return ready.status();
  if (ready->empty()) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  if (!exitcode_.has_value()) {
    absl::StatusOr<std::optional<int>> code =
        platform::WaitForExit(child_, std::nullopt);
    if (!code.ok()) return code.status();
    exitcode_ = *code;
  }
  return exitcode_;
}

std::optional<int> ChildRecord::Poll() {
  absl::StatusOr<std::optional<int>> code = Wait(absl::ZeroDuration());
  return code.ok() ? *code : std::nullopt;
}

absl::Status ChildRecord::Signal(bool kill) {
  std::lock_guard<std::mutex> lock(mu_);
  if (exitcode_.has_value()) return absl::OkStatus();
  return kill ? platform::Kill(child_) : platform::Terminate(child_);
}

void ChildRecord::Forget() { child_.sentinel.release(); }

ChildRegistry& ChildRegistry::Get() {
  static ChildRegistry* const registry = new ChildRegistry;
  return *registry;
}

ChildRegistry::ChildRegistry() : owner_(platform::CurrentProcessId()) {}

void ChildRegistry::Add(std::shared_ptr<ChildRecord> child) {
  std::lock_guard<std::mutex> lock(mu_);
  ForgetIfForkedLocked();
  children_.push_back(std::move(child));
  if (!exit_function_registered_) {
    exit_function_registered_ = true;
    std::atexit([] { ChildRegistry::Get().RunExitFunction(); });
  }
}

void ChildRegistry::Remove(const ChildRecord* child) {
  std::lock_guard<std::mutex> lock(mu_);
  ForgetIfForkedLocked();
  children_.erase(std::remove_if(children_.begin(), children_.end(),
                                 [child](const std::shared_ptr<ChildRecord>& c) {
                                   return c.get() == child;
                                 }),
                  children_.end());
}

std::vector<std::shared_ptr<ChildRecord>> ChildRegistry::Active() {
  std::lock_guard<std::mutex> lock(mu_);
  ForgetIfForkedLocked();
  // A child that cannot be waited for (someone else reaped it) is dropped
  // too: Poll() reports it as not exited, but Wait() fails.
  children_.erase(
      std::remove_if(children_.begin(), children_.end(),
                     [](const std::shared_ptr<ChildRecord>& c) {
                       absl::StatusOr<std::optional<int>> code =
                           c->Wait(absl::ZeroDuration());
                       return !code.ok() || code->has_value();
                     }),
      children_.end());
  return children_;
}

void ChildRegistry::RunExitFunction() {
  for (const std::shared_ptr<ChildRecord>& child : Active()) {
    if (child->daemon()) child->Signal(/*kill=*/false).IgnoreError();
  }
  for (const std::shared_ptr<ChildRecord>& child : Active()) {
    child->Wait(std::nullopt).IgnoreError();
  }
  Active();  // drops the reaped records
}

void ChildRegistry::ForgetIfForkedLocked() {
  const platform::ProcessId self = platform::CurrentProcessId();
  if (owner_ == self) return;
  owner_ = self;
  exit_function_registered_ = false;  // the parent's atexit list is ours, but
                                      // a forked child never runs it
  for (const std::shared_ptr<ChildRecord>& child : children_) child->Forget();
  children_.clear();
}

}  // namespace mp::process_internal
