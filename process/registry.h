// The process-wide list of started, unreaped children (Python's
// multiprocessing.process._children) and what happens to them at exit.
// Internal to //process.
#ifndef MULTIPROCESSING_PROCESS_REGISTRY_H_
#define MULTIPROCESSING_PROCESS_REGISTRY_H_

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "multiprocessing/platform/launch.h"

namespace mp::process_internal {

// One started child, shared by its Process and the registry, so whoever
// reaps it first (Process::Join, ActiveChildren, the exit function) records
// the exit code where the other finds it. Thread-safe.
class ChildRecord {
 public:
  ChildRecord(platform::ChildProcess child, std::string name, bool daemon);

  platform::ProcessId pid() const { return child_.pid; }
  platform::NativeHandle sentinel() const { return child_.sentinel.get(); }
  const std::string& name() const { return name_; }
  bool daemon() const { return daemon_; }

  // Waits for the exit (nullopt: forever; zero or negative: checks once) and
  // reaps. The exit code, or nullopt when the timeout passed first.
  [[nodiscard]] absl::StatusOr<std::optional<int>> Wait(
      std::optional<absl::Duration> timeout);
  // The exit code if the child has exited (reaping it), else nullopt.
  std::optional<int> Poll();
  // SIGTERM / SIGKILL; nothing once reaped (the pid may be reused).
  [[nodiscard]] absl::Status Signal(bool kill);
  // In a forked child: the sentinel was closed by the fork; give it up
  // without closing its number again.
  void Forget();

 private:
  platform::ChildProcess child_;
  const std::string name_;
  const bool daemon_;
  std::mutex mu_;
  std::optional<int> exitcode_ ABSL_GUARDED_BY(mu_);
};

// Every child this process started and has not reaped. Thread-safe.
//
// A forked child inherits a copy of the registry that describes its parent's
// children; the copy is forgotten the first time the child uses it.
class ChildRegistry {
 public:
  // The process-wide instance (never destroyed).
  static ChildRegistry& Get();

  ChildRegistry();
  ChildRegistry(const ChildRegistry&) = delete;
  ChildRegistry& operator=(const ChildRegistry&) = delete;

  // A child was started. The first call in a process arranges for
  // RunExitFunction() at normal exit (std::atexit).
  void Add(std::shared_ptr<ChildRecord> child);
  // Its Process reaped `child`: forget it.
  void Remove(const ChildRecord* child);
  // Reaps the children that have exited and returns the rest (Python's
  // active_children(), whose _cleanup() every start() runs first).
  std::vector<std::shared_ptr<ChildRecord>> Active();
  // Python's _exit_function: terminates the daemonic children still running,
  // then waits for every child. Runs at normal exit of a main process, when a
  // child's target returns, and in mp::Exit().
  void RunExitFunction();

 private:
  void ForgetIfForkedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::mutex mu_;
  platform::ProcessId owner_ ABSL_GUARDED_BY(mu_);
  bool exit_function_registered_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::shared_ptr<ChildRecord>> children_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mp::process_internal

#endif  // MULTIPROCESSING_PROCESS_REGISTRY_H_
