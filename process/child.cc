#include "multiprocessing/process/child.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <mutex>
#include <utility>

#include "absl/base/config.h"
#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "multiprocessing/platform/crypto.h"
#include "multiprocessing/platform/exit_hooks.h"
#include "multiprocessing/platform/liveness.h"
#include "multiprocessing/process/current_process.h"
#include "multiprocessing/process/logger.h"
#include "multiprocessing/process/registry.h"

namespace mp {
namespace process_internal {
namespace {

// This process: who it is.
struct State {
  std::mutex mu;
  ChildIdentity self ABSL_GUARDED_BY(mu);
  bool is_child ABSL_GUARDED_BY(mu) = false;
  bool authkey_made ABSL_GUARDED_BY(mu) = false;
  // The last number given to a Process made here (Python's
  // _process_counter).
  int counter ABSL_GUARDED_BY(mu) = 0;
};

State& GetState() {
  static State* const state = [] {
    auto* s = new State;
    std::lock_guard<std::mutex> lock(s->mu);
    s->self.name = "MainProcess";
    return s;
  }();
  return *state;
}

// Python makes the main process's authkey at import; here it is made at
// first use, which a Process's constructor forces before a fork so the
// child shares it.
std::string AuthkeyLocked(State& state)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(state.mu) {
  if (!state.authkey_made) {
    state.self.authkey.assign(32, '\0');
    if (!platform::RandomBytes(absl::MakeSpan(state.self.authkey)).ok()) {
      std::fprintf(stderr, "mp: no random bytes for the authkey\n");
      std::abort();
    }
    state.authkey_made = true;
  }
  return state.self.authkey;
}

// The exit code for what the child's work returned; an error is reported
// on stderr, as Python prints the traceback of an uncaught exception.
int ExitCode(const absl::StatusOr<int>& result) {
  if (result.ok()) return *result;
  std::fprintf(stderr, "Process %s: %s\n", CurrentProcess().name().c_str(),
               result.status().ToString().c_str());
  return 1;
}

}  // namespace

std::pair<std::string, std::vector<int>> NextProcessIdentity() {
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mu);
  std::vector<int> identity = state.self.identity;
  identity.push_back(++state.counter);
  return {absl::StrCat("Process-", absl::StrJoin(identity, ":")),
          std::move(identity)};
}

ChildIdentity IdentityForChild(std::string name, std::vector<int> identity,
                               bool daemon, std::string authkey) {
  ChildIdentity child;
  child.name = std::move(name);
  child.identity = std::move(identity);
  child.daemon = daemon;
  child.authkey = std::move(authkey);
  child.parent_pid = platform::CurrentProcessId();
  child.parent_name = CurrentProcess().name();
  Logger& logger = GetLogger();
  child.log_level = static_cast<int>(logger.level());
  child.log_to_stderr = logger.logs_to_stderr();
  return child;
}

void BecomeChild(ChildIdentity&& identity) {
  // After a fork every page this writes is copied, and every code page it
  // runs is faulted in (several microseconds each): nothing is written or
  // called that the parent's copy already says, and the former identity is
  // swapped into `identity` rather than freed (a fork child leaves with
  // _exit, so the caller's copy is never destroyed there).
  Logger& logger = GetLogger();
  if (identity.log_to_stderr && !logger.logs_to_stderr()) LogToStderr();
  const auto level = static_cast<LogLevel>(identity.log_level);
  if (logger.level() != level) logger.set_level(level);
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mu);
  std::swap(state.self, identity);
  state.is_child = true;
  state.authkey_made = true;
  state.counter = 0;
}

void FlushStdio() {
  std::cout.flush();
  std::cerr.flush();
  std::clog.flush();
  std::fflush(nullptr);
}

void Finish() {
  ChildRegistry::Get().RunExitFunction();
  RunExitHooks();  // flushes Queue feeders
  FlushStdio();
}

int RunChild(absl::FunctionRef<absl::StatusOr<int>()> run) {
  Logger& logger = GetLogger();
  logger.Info("child process calling self.run()");
  int code = 1;
#ifdef ABSL_HAVE_EXCEPTIONS
  try {
    code = ExitCode(run());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "Process %s: %s\n", CurrentProcess().name().c_str(),
                 e.what());
  } catch (...) {
    std::fprintf(stderr, "Process %s: unknown exception\n",
                 CurrentProcess().name().c_str());
  }
#else
  code = ExitCode(run());
#endif
  if (logger.IsEnabledFor(LogLevel::kInfo)) {
    logger.Info(absl::StrCat("process exiting with exitcode ", code));
  }
  Finish();
  return code;
}

}  // namespace process_internal

using process_internal::GetState;
using process_internal::State;

std::string CurrentProcessInfo::name() const {
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mu);
  return state.self.name;
}

void CurrentProcessInfo::set_name(std::string name) {
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mu);
  state.self.name = std::move(name);
}

std::int64_t CurrentProcessInfo::pid() const {
  return platform::CurrentProcessId();
}

bool CurrentProcessInfo::daemon() const {
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mu);
  return state.self.daemon;
}

std::string CurrentProcessInfo::authkey() const {
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mu);
  return process_internal::AuthkeyLocked(state);
}

void CurrentProcessInfo::set_authkey(std::string authkey) {
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mu);
  state.self.authkey = std::move(authkey);
  state.authkey_made = true;
}

std::vector<int> CurrentProcessInfo::identity() const {
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mu);
  return state.self.identity;
}

CurrentProcessInfo& CurrentProcess() {
  static CurrentProcessInfo info;
  return info;
}

bool ParentProcessInfo::IsAlive() const {
  // A forkserver's child is the server's: its parent is alive while it runs.
  return platform::ParentProcessId() == pid || platform::ProcessIsAlive(pid);
}

std::optional<ParentProcessInfo> ParentProcess() {
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mu);
  if (!state.is_child) return std::nullopt;
  return ParentProcessInfo{state.self.parent_name, state.self.parent_pid};
}

}  // namespace mp
