#include "multiprocessing/process/process.h"

#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/process/child.h"
#include "multiprocessing/process/forkserver.h"
#include "multiprocessing/process/registry.h"
#include "multiprocessing/process/spawn.h"

namespace mp {
namespace {

using process_internal::ChildIdentity;
using process_internal::ChildRecord;
using process_internal::ChildRegistry;

absl::Status ClosedError() {
  return absl::FailedPreconditionError("process object is closed");
}

absl::Status NotAvailable(StartMethod method) {
  return absl::FailedPreconditionError(
      absl::StrCat("the ", StartMethodName(method),
                   " start method is not available on this platform"));
}

bool Available(StartMethod method) {
  switch (method) {
    case StartMethod::kSpawn:
      return true;
    case StartMethod::kFork:
      return platform::CanFork();
    case StartMethod::kForkserver:
      return platform::CanForkserver();
  }
  return false;
}

// The default start method.
struct Defaults {
  std::mutex mu;
  std::optional<StartMethod> start_method ABSL_GUARDED_BY(mu);
};

Defaults& GetDefaults() {
  static Defaults* const defaults = new Defaults;
  return *defaults;
}

}  // namespace

namespace process_internal {
// A spawned Process() without a target runs this (Python's run() with no
// target does nothing). Registered under its qualified spelling, which no
// user's MP_REGISTER_TARGET takes.
int NoTarget() { return 0; }
}  // namespace process_internal
MP_REGISTER_TARGET(mp::process_internal::NoTarget);

const char* StartMethodName(StartMethod method) {
  switch (method) {
    case StartMethod::kFork:
      return "fork";
    case StartMethod::kSpawn:
      return "spawn";
    case StartMethod::kForkserver:
      return "forkserver";
  }
  return "unknown";
}

std::vector<StartMethod> GetAllStartMethods() {
  std::vector<StartMethod> methods;
  if (platform::CanFork()) methods.push_back(StartMethod::kFork);
  methods.push_back(StartMethod::kSpawn);
  if (platform::CanForkserver()) methods.push_back(StartMethod::kForkserver);
  return methods;
}

absl::Status SetForkserverPreload(std::vector<std::string> names) {
  if (!Available(StartMethod::kForkserver)) {
    return NotAvailable(StartMethod::kForkserver);
  }
  return process_internal::SetForkserverPreload(std::move(names));
}

StartMethod GetStartMethod() {
  Defaults& d = GetDefaults();
  std::lock_guard<std::mutex> lock(d.mu);
  if (!d.start_method) d.start_method = GetAllStartMethods().front();
  return *d.start_method;
}

absl::Status SetStartMethod(StartMethod method, bool force) {
  if (!Available(method)) return NotAvailable(method);
  Defaults& d = GetDefaults();
  std::lock_guard<std::mutex> lock(d.mu);
  if (d.start_method && !force) {
    return absl::FailedPreconditionError("context has already been set");
  }
  d.start_method = method;
  return absl::OkStatus();
}

absl::StatusOr<Context> GetContext(std::optional<StartMethod> method) {
  if (!method) return Context(GetStartMethod());
  if (!Available(*method)) return NotAvailable(*method);
  return Context(*method);
}

void Init(int argc, char** argv) { process_internal::RunIfSpawned(); }

void SetExecutable(std::string path) {
  process_internal::SetSpawnExecutable(std::move(path));
}

absl::StatusOr<std::string> GetExecutable() {
  return process_internal::SpawnExecutable();
}

std::vector<ChildInfo> ActiveChildren() {
  std::vector<ChildInfo> out;
  for (const auto& child : ChildRegistry::Get().Active()) {
    out.push_back(ChildInfo{child->pid(), child->name(), child->daemon()});
  }
  return out;
}

std::optional<int> CpuCount() { return platform::ProcessorCount(); }

Process::Process(BoundTag, std::unique_ptr<process_internal::Target> target)
    : target_(std::move(target)),
      daemon_(CurrentProcess().daemon()),
      authkey_(CurrentProcess().authkey()) {
  std::tie(name_, identity_) = process_internal::NextProcessIdentity();
}

Process::Process()
    : Process(BoundTag{}, std::unique_ptr<process_internal::Target>()) {}

Process::Process(Process&& other) noexcept
    : start_method_(other.start_method_),
      target_(std::move(other.target_)),
      name_(std::move(other.name_)),
      identity_(std::move(other.identity_)),
      daemon_(other.daemon_),
      dies_with_parent_(other.dies_with_parent_),
      spawn_kept_signals_(std::move(other.spawn_kept_signals_)),
      authkey_(std::move(other.authkey_)),
      closed_(std::exchange(other.closed_, true)),
      child_(std::move(other.child_)) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    Abandon();
    start_method_ = other.start_method_;
    target_ = std::move(other.target_);
    name_ = std::move(other.name_);
    identity_ = std::move(other.identity_);
    daemon_ = other.daemon_;
    dies_with_parent_ = other.dies_with_parent_;
    spawn_kept_signals_ = std::move(other.spawn_kept_signals_);
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
  // Or a forked child would write the pending output again.
  process_internal::FlushStdio();
  absl::StatusOr<platform::ChildProcess> child = Launch(method);
  if (!child.ok()) return child.status();
  child_ = std::make_shared<ChildRecord>(std::move(*child), name_, daemon_);
  ChildRegistry::Get().Add(child_);
  target_.reset();  // the arguments moved into the Process belong to the child
  return absl::OkStatus();
}

absl::StatusOr<int> Process::Run() {
  if (closed_) return ClosedError();
  if (target_ == nullptr) {
    if (child_ != nullptr) {
      return absl::FailedPreconditionError(
          "run: the target and its arguments belong to the child once the "
          "process has started");
    }
    return 0;  // no target: nothing to do
  }
  return target_->Run();
}

absl::StatusOr<std::vector<platform::NativeHandle>> Process::ForkHandles()
    const {
  std::vector<platform::NativeHandle> handles;
  if (target_ != nullptr) {
    absl::StatusOr<HandleList> carried = target_->Handles();
    if (!carried.ok()) return carried.status();
    handles = *std::move(carried);
  }
  if (typeid(*this) != typeid(Process)) {
    const process_internal::RegisteredTarget* registered =
        process_internal::FindProcessClass(typeid(*this));
    if (registered != nullptr) {
      HandleTable table;
      std::string scratch;
      if (absl::Status s = registered->encode(static_cast<const Process*>(this),
                                              &scratch, &table);
          !s.ok()) {
        return s;
      }
      handles.insert(handles.end(), table.handles().begin(),
                     table.handles().end());
    }
  }
  return handles;
}

absl::StatusOr<platform::ChildProcess> Process::Launch(StartMethod method) {
  ChildIdentity identity =
      process_internal::IdentityForChild(name_, identity_, daemon_, authkey_);
  platform::LaunchOptions options;
  options.kill_with_parent = dies_with_parent_;
  options.kept_signals = spawn_kept_signals_;
  if (method == StartMethod::kSpawn || method == StartMethod::kForkserver) {
    process_internal::SpawnRequest request;
    HandleTable handles;
    if (typeid(*this) != typeid(Process)) {
      const process_internal::RegisteredTarget* registered =
          process_internal::FindProcessClass(typeid(*this));
      if (registered == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the ", StartMethodName(method),
            " start method runs a subclass of Process only when it "
            "is registered with MP_REGISTER_PROCESS (this one is ",
            typeid(*this).name(), ")"));
      }
      request.target = registered->name;
      if (absl::Status s = registered->encode(static_cast<const Process*>(this),
                                              &request.arguments, &handles);
          !s.ok()) {
        return s;
      }
    } else {
      // Process() without a target runs NoTarget.
      process_internal::BoundTarget<int (*)()> no_target(
          &process_internal::NoTarget);
      process_internal::Target& target =
          target_ != nullptr ? *target_ : no_target;
      // The arguments first: one with no Codec is the real cause when the
      // target is not registered either (such a function cannot be).
      if (absl::Status s = target.EncodeArguments(&request.arguments, &handles);
          !s.ok()) {
        return s;
      }
      const process_internal::RegisteredTarget* registered =
          process_internal::FindTarget(target.function());
      if (registered == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the ", StartMethodName(method),
            " start method runs functions registered with "
            "MP_REGISTER_TARGET; this target is not one (a lambda, a function "
            "object or an unregistered function can only be forked)"));
      }
      request.target = registered->name;
    }
    request.handles = handles.handles();
    if (method == StartMethod::kForkserver) {
      return process_internal::ForkserverStart(request, identity, options);
    }
    return process_internal::Spawn(request, identity, options);
  }
  absl::StatusOr<std::vector<platform::NativeHandle>> keep = ForkHandles();
  if (!keep.ok()) return keep.status();
  return platform::ForkAndRun(
      *keep,
      [&] {
        process_internal::BecomeChild(std::move(identity));
        return process_internal::RunChild([this] { return Run(); });
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

absl::Status Process::set_spawn_kept_signals(std::vector<int> signals) {
  if (absl::Status s = CheckNotStarted(); !s.ok()) return s;
  spawn_kept_signals_ = std::move(signals);
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
  process_internal::Finish();
  platform::ExitNow(code);
}

}  // namespace mp
