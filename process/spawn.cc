#include "process/spawn.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "ipc/connection.h"
#include "platform/error.h"
#include "platform/handle.h"
#include "process/bootstrap.pb.h"
#include "process/process.h"

namespace mp::process_internal {
namespace {

constexpr absl::string_view kTargetSwitch = "--mp-spawn=";
constexpr absl::string_view kBootstrapSwitch = "--mp-bootstrap=";

std::atomic<bool> init_ran{false};

// The value of `--switch=value` in args, if present.
template <typename Args>
std::optional<std::string> SwitchValue(const Args& args,
                                       absl::string_view name) {
  for (const auto& arg : args) {
    absl::string_view a(arg);
    if (absl::StartsWith(a, name)) return std::string(a.substr(name.size()));
  }
  return std::nullopt;
}

// What Start() reports when the child ended without answering.
absl::Status ExitedBeforeAnswer(const platform::ChildProcess& child,
                                const std::string& target) {
  absl::StatusOr<std::optional<int>> code =
      platform::WaitForExit(child, absl::Seconds(10));
  if (code.ok() && !code->has_value()) {  // still running: never reads it
    platform::Kill(child).IgnoreError();
    code = platform::WaitForExit(child, std::nullopt);
  }
  const std::string how =
      code.ok() && code->has_value() ? absl::StrCat(" with code ", **code) : "";
  return absl::FailedPreconditionError(
      absl::StrCat("spawned process for target ", target, " exited", how,
                   " before it read its bootstrap message: does main() call "
                   "mp::Init(argc, argv) first?"));
}

// Child side: reads the bootstrap and prepares the target, or says why not.
absl::StatusOr<std::unique_ptr<Target>> Prepare(Connection& channel,
                                                const std::string& target) {
  absl::StatusOr<std::string> bytes = channel.RecvBytes();
  if (!bytes.ok()) return bytes.status();
  Bootstrap boot;
  if (!boot.ParseFromString(*bytes)) {
    return absl::DataLossError("spawn: unparsable bootstrap message");
  }
  // The handles the parent passed, owned now; the ones no argument claims
  // are closed when `handles` goes.
  HandleTable handles = HandleTable::Inherited(
      std::vector<platform::NativeHandle>(boot.handles().begin(),
                                          boot.handles().end()));
  if (boot.target() != target) {
    return absl::InvalidArgumentError(
        absl::StrCat("spawn: the command line names target ", target,
                     " but the bootstrap message names ", boot.target()));
  }
  const RegisteredTarget* registered = FindTarget(target);
  if (registered == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "target ", target,
        " is not registered in the spawned binary (MP_REGISTER_TARGET)"));
  }
  absl::StatusOr<std::unique_ptr<Target>> bound =
      registered->bind(registered->function, boot.arguments(), &handles);
  if (!bound.ok()) {
    return absl::Status(
        bound.status().code(),
        absl::StrCat("arguments of target ", target,
                     " do not decode: ", bound.status().message()));
  }
  ChildIdentity identity;
  identity.name = boot.name();
  identity.daemon = boot.daemon();
  identity.authkey = boot.authkey();
  identity.parent_pid = boot.parent_pid();
  identity.parent_name = boot.parent_name();
  BecomeChild(identity);
  return bound;
}

}  // namespace

absl::StatusOr<platform::ChildProcess> Spawn(
    Target& target, const ChildIdentity& identity,
    const platform::LaunchOptions& options) {
  const RegisteredTarget* registered = FindTarget(target.function());
  if (registered == nullptr) {
    return absl::InvalidArgumentError(
        "the spawn start method runs functions registered with "
        "MP_REGISTER_TARGET; this target is not one (a lambda, a function "
        "object or an unregistered function can only be forked)");
  }
  Bootstrap boot;
  boot.set_target(registered->name);
  HandleTable handles;
  if (absl::Status s =
          target.EncodeArguments(boot.mutable_arguments(), &handles);
      !s.ok()) {
    return s;
  }
  const HandleList& keep = handles.handles();
  boot.set_name(identity.name);
  boot.set_daemon(identity.daemon);
  boot.set_authkey(identity.authkey);
  for (platform::NativeHandle h : keep) boot.add_handles(h);
  boot.set_parent_pid(identity.parent_pid);
  boot.set_parent_name(identity.parent_name);

  absl::StatusOr<std::string> exe = GetExecutable();
  if (!exe.ok()) return exe.status();
  absl::StatusOr<std::pair<Connection, Connection>> channel = Pipe();
  if (!channel.ok()) return channel.status();
  auto& [ours, theirs] = *channel;
  HandleList inherit = keep;
  inherit.push_back(theirs.fileno());
  absl::StatusOr<platform::ChildProcess> child = platform::LaunchProgram(
      {*exe, absl::StrCat(kTargetSwitch, registered->name),
       absl::StrCat(kBootstrapSwitch, theirs.fileno())},
      inherit, options);
  if (!child.ok()) return child.status();
  theirs.Close().IgnoreError();

  if (!ours.SendBytes(boot.SerializeAsString()).ok()) {
    // Most likely it is gone already; if not, it never will read it.
    platform::Kill(*child).IgnoreError();
    return ExitedBeforeAnswer(*child, registered->name);
  }
  absl::StatusOr<bool> answered = ours.Poll(kSpawnAnswerTimeout);
  if (answered.ok() && !*answered) {
    platform::Kill(*child).IgnoreError();
    platform::WaitForExit(*child, std::nullopt).IgnoreError();
    return absl::DeadlineExceededError(
        absl::StrCat("spawned process for target ", registered->name,
                     " did not answer its bootstrap message within ",
                     absl::FormatDuration(kSpawnAnswerTimeout),
                     ": does main() call mp::Init(argc, argv) first?"));
  }
  absl::StatusOr<std::string> answer =
      answered.ok() ? ours.RecvBytes() : answered.status();
  if (!answer.ok()) return ExitedBeforeAnswer(*child, registered->name);
  if (!answer->empty()) {
    platform::WaitForExit(*child, std::nullopt).IgnoreError();
    return absl::InvalidArgumentError(
        absl::StrCat("spawned process could not start: ", *answer));
  }
  return child;
}

void RunIfSpawned(int argc, char** argv) {
  std::vector<absl::string_view> args(argv, argv + argc);
  init_ran = true;
  std::optional<std::string> target = SwitchValue(args, kTargetSwitch);
  if (!target) return;
  std::optional<std::string> handle_text = SwitchValue(args, kBootstrapSwitch);
  int64_t handle = -1;
  if (!handle_text || !absl::SimpleAtoi(*handle_text, &handle)) {
    std::fprintf(stderr, "mp::Init: %s without a valid %s\n",
                 std::string(kTargetSwitch).c_str(),
                 std::string(kBootstrapSwitch).c_str());
    std::exit(1);
  }
  Connection channel(
      platform::ScopedHandle(static_cast<platform::NativeHandle>(handle)),
      /*readable=*/true, /*writable=*/true);
  absl::StatusOr<std::unique_ptr<Target>> prepared = Prepare(channel, *target);
  if (!prepared.ok()) {
    // The parent's Start() reports it; stderr is for a parent that is gone.
    if (!channel.SendBytes(prepared.status().ToString()).ok()) {
      std::fprintf(stderr, "mp::Init: %s\n",
                   prepared.status().ToString().c_str());
    }
    std::exit(1);
  }
  channel.SendBytes("").IgnoreError();
  channel.Close().IgnoreError();
  std::exit(RunChild(**prepared));
}

bool SpawnedWithoutInit() {
  return !init_ran &&
         SwitchValue(platform::ProgramArguments(), kTargetSwitch).has_value();
}

}  // namespace mp::process_internal

namespace mp {
namespace {

std::mutex executable_mu;
std::string* executable = nullptr;  // guarded by executable_mu; never freed

}  // namespace

void SetExecutable(std::string path) {
  std::lock_guard<std::mutex> lock(executable_mu);
  if (executable == nullptr) executable = new std::string;
  *executable = std::move(path);
}

absl::StatusOr<std::string> GetExecutable() {
  {
    std::lock_guard<std::mutex> lock(executable_mu);
    if (executable != nullptr && !executable->empty()) return *executable;
  }
  return platform::ExecutablePath();
}

}  // namespace mp
