// The process-wide list of started, unreaped children (Python's
// multiprocessing.process._children). Internal to //process.
#ifndef MULTIPROCESSING_PROCESS_REGISTRY_H_
#define MULTIPROCESSING_PROCESS_REGISTRY_H_

#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "platform/launch.h"

namespace mp::process_internal {

// Every child this process started and has not reaped yet. Thread-safe.
//
// A Process registers its child at Start() and unregisters it once it has
// reaped it. A Process destroyed while its child may still run hands the
// child over (Adopt); ReapFinished(), which every Start() calls first (Python's
// _cleanup()), reaps the adopted children that have exited, so none of them
// stays a zombie for long.
//
// A forked child inherits a copy of this registry that describes its
// parent's children. The copy is forgotten the first time the child uses the
// registry, so a child that never starts processes never takes its lock.
class ChildRegistry {
 public:
  // The process-wide instance (never destroyed).
  static ChildRegistry& Get();

  ChildRegistry();
  ChildRegistry(const ChildRegistry&) = delete;
  ChildRegistry& operator=(const ChildRegistry&) = delete;

  // A Process started `pid` and owns it.
  void Add(platform::ProcessId pid);
  // The owner reaped `pid`.
  void Remove(platform::ProcessId pid);
  // The owner goes away before reaping: the registry owns `child` from now
  // on and reaps it once it has exited.
  void Adopt(platform::ChildProcess child);
  // Reaps the adopted children that have exited, without blocking.
  void ReapFinished();
  // The children not reaped yet, owned or adopted (for ActiveChildren()).
  std::vector<platform::ProcessId> Pids();

 private:
  // Forgets the parent's children when called in a forked child.
  void ForgetIfForkedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  platform::ProcessId owner_ ABSL_GUARDED_BY(mu_);
  // pid -> the child when adopted, nullopt while a Process owns it.
  absl::flat_hash_map<platform::ProcessId,
                      std::optional<platform::ChildProcess>>
      children_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mp::process_internal

#endif  // MULTIPROCESSING_PROCESS_REGISTRY_H_
