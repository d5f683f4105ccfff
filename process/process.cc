#include "multiprocessing/process/process.h"

#include <atomic>
#include <cstdio>
#include <exception>
#include <iostream>
#include <mutex>

#include "absl/base/config.h"
#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "multiprocessing/ipc/exit_hooks.h"
#include "multiprocessing/platform/crypto.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/process/registry.h"
#include "spawn.h"

namespace mp {
namespace {

using process_internal::ChildIdentity;
using process_internal::ChildRecord;
using process_internal::ChildRegistry;

void FlushStdio() {
  std::cout.flush();
  std::cerr.flush();
  std::clog.flush();
  std::fflush(nullptr);
}

absl::Status ClosedError() {
  return absl::FailedPreconditionError("process object is closed");
}

absl::Status NotAvailable(StartMethod method) {
  return absl::FailedPreconditionError(
      absl::StrCat("the ", StartMethodName(method),
                   " start method is not available on this platform"));
}

bool Available(StartMethod method) {
  return method == StartMethod::kSpawn || platform::CanFork();
}

// This process: who it is, and the default start method.
struct State {
  std::mutex mu;
  ChildIdentity self ABSL_GUARDED_BY(mu);
  bool is_child ABSL_GUARDED_BY(mu) = false;
  bool authkey_made ABSL_GUARDED_BY(mu) = false;
  std::optional<StartMethod> start_method ABSL_GUARDED_BY(mu);
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
// first use, which Start() forces before a fork so the child shares it.
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

// The exit code for what the target returned; an error is reported on
// stderr, as Python prints the traceback of an uncaught exception.
int ExitCode(const absl::StatusOr<int>& result, const std::string& name) {
  if (result.ok()) return *result;
  std::fprintf(stderr, "Process %s: %s\n", name.c_str(),
               result.status().ToString().c_str());
  return 1;
}

}  // namespace

namespace process_internal {

void BecomeChild(const ChildIdentity& identity) {
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mu);
  state.self = identity;
  state.is_child = true;
  state.authkey_made = true;
}

int RunChild(Target& target) {
  const std::string name = CurrentProcess().name();
  int code = 1;
#ifdef ABSL_HAVE_EXCEPTIONS
  try {
    code = ExitCode(target.Run(), name);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "Process %s: %s\n", name.c_str(), e.what());
  } catch (...) {
    std::fprintf(stderr, "Process %s: unknown exception\n", name.c_str());
  }
#else
  code = ExitCode(target.Run(), name);
#endif
  ChildRegistry::Get().RunExitFunction();
  RunExitHooks();  // flushes Queue feeders
  FlushStdio();
  return code;
}

}  // namespace process_internal

const char* StartMethodName(StartMethod method) {
  switch (method) {
    case StartMethod::kFork:
      return "fork";
    case StartMethod::kSpawn:
      return "spawn";
  }
  return "unknown";
}

std::vector<StartMethod> GetAllStartMethods() {
  if (platform::CanFork()) return {StartMethod::kFork, StartMethod::kSpawn};
  return {StartMethod::kSpawn};
}

StartMethod GetStartMethod() {
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mu);
  if (!state.start_method) state.start_method = GetAllStartMethods().front();
  return *state.start_method;
}

absl::Status SetStartMethod(StartMethod method, bool force) {
  if (!Available(method)) return NotAvailable(method);
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mu);
  if (state.start_method && !force) {
    return absl::FailedPreconditionError("context has already been set");
  }
  state.start_method = method;
  return absl::OkStatus();
}

absl::StatusOr<Context> GetContext(std::optional<StartMethod> method) {
  if (!method) return Context(GetStartMethod());
  if (!Available(*method)) return NotAvailable(*method);
  return Context(*method);
}

void Init(int argc, char** argv) { process_internal::RunIfSpawned(argc, argv); }

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
  return AuthkeyLocked(state);
}

void CurrentProcessInfo::set_authkey(std::string authkey) {
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mu);
  state.self.authkey = std::move(authkey);
  state.authkey_made = true;
}

CurrentProcessInfo& CurrentProcess() {
  static CurrentProcessInfo info;
  return info;
}

bool ParentProcessInfo::IsAlive() const {
  return platform::ParentProcessId() == pid;
}

std::optional<ParentProcessInfo> ParentProcess() {
  State& state = GetState();
  std::lock_guard<std::mutex> lock(state.mu);
  if (!state.is_child) return std::nullopt;
  return ParentProcessInfo{state.self.parent_name, state.self.parent_pid};
}

std::vector<ChildInfo> ActiveChildren() {
  std::vector<ChildInfo> out;
  for (const auto& child : ChildRegistry::Get().Active()) {
    out.push_back(ChildInfo{child->pid(), child->name(), child->daemon()});
  }
  return out;
}

std::optional<int> CpuCount() { return platform::ProcessorCount(); }

std::string Process::NextName() {
  static std::atomic<int> counter{0};
  return absl::StrCat("Process-", ++counter);
}

bool Process::DefaultDaemon() { return CurrentProcess().daemon(); }

std::string Process::DefaultAuthkey() { return CurrentProcess().authkey(); }

Process::Process(Process&& other) noexcept
    : start_method_(other.start_method_),
      target_(std::move(other.target_)),
      name_(std::move(other.name_)),
      daemon_(other.daemon_),
      dies_with_parent_(other.dies_with_parent_),
      authkey_(std::move(other.authkey_)),
      closed_(std::exchange(other.closed_, true)),
      child_(std::move(other.child_)) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    Abandon();
    start_method_ = other.start_method_;
    target_ = std::move(other.target_);
    name_ = std::move(other.name_);
    daemon_ = other.daemon_;
    dies_with_parent_ = other.dies_with_parent_;
    authkey_ = std::move(other.authkey_);
    closed_ = std::exchange(other.closed_, true);
    child_ = std::move(other.child_);
  }
  return *this;
}

Process::~Process() { Abandon(); }

void Process::Abandon() {
  child_.reset();  // the registry keeps it until it is reaped
  target_.reset();
  closed_ = true;
}

absl::Status Process::Start() {
  if (closed_) return ClosedError();
  if (child_ != nullptr) {
    return absl::FailedPreconditionError("cannot start a process twice");
  }
  if (CurrentProcess().daemon()) {
    return absl::FailedPreconditionError(
        "daemonic processes are not allowed to have children");
  }
  if (process_internal::SpawnedWithoutInit()) {
    return absl::FailedPreconditionError(
        "this process was spawned to run a target, but main() did not call "
        "mp::Init(argc, argv) first");
  }
  const StartMethod method = start_method();
  if (!Available(method)) return NotAvailable(method);
  ChildRegistry::Get().Active();  // reaps the children that have exited
  FlushStdio();  // or a forked child would write the pending output again
  absl::StatusOr<platform::ChildProcess> child = Launch(method);
  if (!child.ok()) return child.status();
  child_ = std::make_shared<ChildRecord>(std::move(*child), name_, daemon_);
  ChildRegistry::Get().Add(child_);
  target_.reset();  // the arguments moved into the Process belong to the child
  return absl::OkStatus();
}

absl::StatusOr<platform::ChildProcess> Process::Launch(StartMethod method) {
  ChildIdentity identity;
  identity.name = name_;
  identity.daemon = daemon_;
  identity.authkey = authkey_;
  identity.parent_pid = platform::CurrentProcessId();
  identity.parent_name = CurrentProcess().name();
  platform::LaunchOptions options;
  options.kill_with_parent = dies_with_parent_;
  if (method == StartMethod::kSpawn) {
    return process_internal::Spawn(*target_, identity, options);
  }
  return platform::ForkAndRun(
      target_->Handles(),
      [&] {
        process_internal::BecomeChild(identity);
        return process_internal::RunChild(*target_);
      },
      options);
}

absl::Status Process::CheckStarted(const char* operation) const {
  if (closed_) return ClosedError();
  if (child_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("can only ", operation, " a started process"));
  }
  return absl::OkStatus();
}

absl::Status Process::Join(std::optional<absl::Duration> timeout) {
  if (absl::Status s = CheckStarted("join"); !s.ok()) return s;
  absl::StatusOr<std::optional<int>> code = Wait(timeout);
  if (!code.ok()) return code.status();
  if (!code->has_value()) {
    return TimeoutError(absl::StrCat("join: ", name_, " still running after ",
                                     absl::FormatDuration(*timeout)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<int>> Process::Wait(
    std::optional<absl::Duration> timeout) {
  absl::StatusOr<std::optional<int>> code = child_->Wait(timeout);
  if (code.ok() && code->has_value()) {
    ChildRegistry::Get().Remove(child_.get());
  }
  return code;
}

std::optional<int> Process::Poll() {
  absl::StatusOr<std::optional<int>> code = Wait(absl::ZeroDuration());
  return code.ok() ? *code : std::nullopt;
}

bool Process::IsAlive() {
  if (closed_ || child_ == nullptr) return false;
  return !Poll().has_value();
}

std::optional<std::int64_t> Process::pid() const {
  if (closed_ || child_ == nullptr) return std::nullopt;
  return child_->pid();
}

std::optional<int> Process::exitcode() {
  if (closed_ || child_ == nullptr) return std::nullopt;
  return Poll();
}

absl::Status Process::Signal(bool kill) {
  if (absl::Status s = CheckStarted(kill ? "kill" : "terminate"); !s.ok()) {
    return s;
  }
  return child_->Signal(kill);
}

absl::Status Process::Terminate() { return Signal(/*kill=*/false); }

absl::Status Process::Kill() { return Signal(/*kill=*/true); }

absl::Status Process::Close() {
  if (closed_) return absl::OkStatus();
  if (child_ != nullptr && !Poll().has_value()) {
    return absl::FailedPreconditionError(
        "cannot close a process while it is still running; join or "
        "terminate it first");
  }
  child_.reset();
  target_.reset();
  closed_ = true;
  return absl::OkStatus();
}

absl::StatusOr<platform::NativeHandle> Process::sentinel() const {
  if (absl::Status s = CheckStarted("get the sentinel of"); !s.ok()) return s;
  return child_->sentinel();
}

absl::Status Process::set_name(std::string name) {
  if (closed_) return ClosedError();
  name_ = std::move(name);
  return absl::OkStatus();
}

absl::Status Process::CheckNotStarted() const {
  if (closed_) return ClosedError();
  if (child_ != nullptr) {
    return absl::FailedPreconditionError("process has already started");
  }
  return absl::OkStatus();
}

absl::Status Process::set_daemon(bool daemon) {
  if (absl::Status s = CheckNotStarted(); !s.ok()) return s;
  daemon_ = daemon;
  return absl::OkStatus();
}

absl::Status Process::set_dies_with_parent(bool dies) {
  if (absl::Status s = CheckNotStarted(); !s.ok()) return s;
  dies_with_parent_ = dies;
  return absl::OkStatus();
}

absl::Status Process::set_authkey(std::string authkey) {
  if (absl::Status s = CheckNotStarted(); !s.ok()) return s;
  authkey_ = std::move(authkey);
  return absl::OkStatus();
}

StartMethod Process::start_method() const {
  return start_method_.value_or(GetStartMethod());
}

absl::Status Process::set_start_method(StartMethod method) {
  if (absl::Status s = CheckNotStarted(); !s.ok()) return s;
  start_method_ = method;
  return absl::OkStatus();
}

void Exit(int code) {
  ChildRegistry::Get().RunExitFunction();
  RunExitHooks();
  FlushStdio();
  platform::ExitNow(code);
}

}  // namespace mp
