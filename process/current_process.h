// Who this process is: Python's current_process() and parent_process().
// Part of //process (process/process.h includes it).
#ifndef MULTIPROCESSING_PROCESS_CURRENT_PROCESS_H_
#define MULTIPROCESSING_PROCESS_CURRENT_PROCESS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mp {

// current_process(): this process as its parent named it ("MainProcess" in
// a process this library did not start). Thread-safe.
class CurrentProcessInfo {
 public:
  // "MainProcess", or the name of the Process this process runs
  // ("Process-1", "Process-1:2" for the second one Process-1 started, ...).
  std::string name() const;
  void set_name(std::string name);
  std::int64_t pid() const;
  std::int64_t ident() const { return pid(); }
  bool daemon() const;
  // 32 random bytes in a main process; a child has its Process's authkey.
  std::string authkey() const;
  void set_authkey(std::string authkey);
  // Python's _identity: empty in a main process, {1} in Process-1, {1, 2}
  // in Process-1:2. The numbers of the Processes this process creates
  // follow it (Process-1:2 makes Process-1:2:1, Process-1:2:2, ...).
  std::vector<int> identity() const;
};
CurrentProcessInfo& CurrentProcess();

// parent_process(): the process that started this one, or nullopt in a main
// process.
struct ParentProcessInfo {
  std::string name;
  std::int64_t pid = 0;
  // Whether that process still runs: this process was not adopted, or
  // (a forkserver's child, whose parent is the server) it has not ended.
  bool IsAlive() const;
};
std::optional<ParentProcessInfo> ParentProcess();

}  // namespace mp

#endif  // MULTIPROCESSING_PROCESS_CURRENT_PROCESS_H_
