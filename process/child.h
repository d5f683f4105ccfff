// The child's life, whatever the start method: who this process is (its
// identity and state), how it becomes a child, and how a child runs and
// ends. Internal to //process: fork (process.cc), spawn (spawn.cc) and the
// public getters (current_process.h, logger.h) all go through here, and this
// file depends on none of them.
#ifndef MULTIPROCESSING_PROCESS_CHILD_H_
#define MULTIPROCESSING_PROCESS_CHILD_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "multiprocessing/platform/launch.h"

namespace mp::process_internal {

// Who a child is (set in the child, by fork or by the bootstrap message).
struct ChildIdentity {
  std::string name;
  // Python's _identity: the numbers of its Process in each generation.
  std::vector<int> identity;
  bool daemon = false;
  std::string authkey;
  platform::ProcessId parent_pid = 0;
  std::string parent_name;
  // The logger's level (0: not set) and whether it writes to stderr
  // (logger.h): a child logs as its parent does.
  int log_level = 0;
  bool log_to_stderr = false;
};

// A new Process's default name and identity: this process's identity with
// the next number of its counter appended ("Process-1", in a child
// "Process-1:1", ...). Thread-safe.
std::pair<std::string, std::vector<int>> NextProcessIdentity();

// What a child being started is told about itself, with `name` and
// `identity` its Process's (this process is its parent).
ChildIdentity IdentityForChild(std::string name, std::vector<int> identity,
                               bool daemon, std::string authkey);

// Makes this process the child `identity` describes: its name, identity,
// parent and log settings, and a counter of Processes restarted at 1.
// `identity` is left holding this process's former identity.
void BecomeChild(ChildIdentity&& identity);

// Runs a child's work (Process::Run) and returns its exit code (see
// process.h): an error or an exception is reported on stderr and gives 1.
// Then Finish(). Logs the start and the exit code at kInfo.
int RunChild(absl::FunctionRef<absl::StatusOr<int>()> run);

// What every process does before it ends normally from a target or
// mp::Exit: Python's exit function (daemonic children terminated, the
// others joined), the exit hooks (queue feeders flushed) and a flush of C
// stdio and the standard C++ streams.
void Finish();

// Flushes C stdio and std::cout/cerr/clog (before a fork, or the child
// would write the parent's pending output again).
void FlushStdio();

}  // namespace mp::process_internal

#endif  // MULTIPROCESSING_PROCESS_CHILD_H_
