#include "multiprocessing/process/spawn.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/crypto.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/process/bootstrap.pb.h"
#include "multiprocessing/process/child.h"
#include "multiprocessing/process/target.h"

namespace mp::process_internal {
namespace {

// A spawned child's command line is exactly
//   <exe> --mp-spawn=<target> --mp-bootstrap=<handle>:<cookie>
// and its environment has MP_SPAWN_BOOTSTRAP=<cookie>:<parent pid>, which
// mp::Init removes. Anything else is an ordinary run of main().
constexpr absl::string_view kTargetSwitch = "--mp-spawn=";
constexpr absl::string_view kBootstrapSwitch = "--mp-bootstrap=";
constexpr char kBootstrapVariable[] = "MP_SPAWN_BOOTSTRAP";
constexpr std::size_t kCookieBytes = 16;

std::atomic<bool> init_ran{false};

// The target named by a command line of the spawned form, if it is one.
template <typename Args>
std::optional<std::string> SpawnTarget(const Args& args) {
  if (args.size() != 3) return std::nullopt;
  const absl::string_view target(args[1]), bootstrap(args[2]);
  if (!absl::StartsWith(target, kTargetSwitch) ||
      !absl::StartsWith(bootstrap, kBootstrapSwitch)) {
    return std::nullopt;
  }
  return std::string(target.substr(kTargetSwitch.size()));
}

// The bootstrap channel, when everything says the parent that launched this
// process spawned it: the command line's cookie is the one the environment
// (`variable`) carries, this process's parent is the one it names, and the
// handle is the duplex channel that parent made. nullopt otherwise.
std::optional<platform::NativeHandle> BootstrapHandle(
    absl::string_view bootstrap_switch,
    const std::optional<std::string>& variable) {
  if (!variable) return std::nullopt;
  const std::vector<absl::string_view> ours =
      absl::StrSplit(bootstrap_switch.substr(kBootstrapSwitch.size()), ':');
  const std::vector<absl::string_view> env = absl::StrSplit(*variable, ':');
  int64_t handle = -1, parent = 0;
  if (ours.size() != 2 || env.size() != 2 ||
      ours[1].size() != 2 * kCookieBytes || ours[1] != env[0] ||
      !absl::SimpleAtoi(ours[0], &handle) || handle < 0 ||
      !absl::SimpleAtoi(env[1], &parent) ||
      platform::ParentProcessId() != parent) {
    return std::nullopt;
  }
  const auto h = static_cast<platform::NativeHandle>(handle);
  absl::StatusOr<int64_t> creator = platform::DuplexChannelCreator(h);
  if (!creator.ok() || (*creator != 0 && *creator != parent)) {
    return std::nullopt;
  }
  return h;
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
  if (boot.target() != target) {
    // The handles the parent passed are ours to close.
    HandleTable unclaimed =
        HandleTable::Inherited(std::vector<platform::NativeHandle>(
            boot.handles().begin(), boot.handles().end()));
    return absl::InvalidArgumentError(
        absl::StrCat("spawn: the command line names target ", target,
                     " but the bootstrap message names ", boot.target()));
  }
  return PrepareBootstrap(boot);
}

}  // namespace

Bootstrap MakeBootstrap(const SpawnRequest& request,
                        const ChildIdentity& identity) {
  Bootstrap boot;
  boot.set_target(request.target);
  boot.set_arguments(request.arguments);
  boot.set_name(identity.name);
  for (int n : identity.identity) boot.add_identity(n);
  boot.set_daemon(identity.daemon);
  boot.set_authkey(identity.authkey);
  for (platform::NativeHandle h : request.handles) boot.add_handles(h);
  boot.set_parent_pid(identity.parent_pid);
  boot.set_parent_name(identity.parent_name);
  boot.set_log_level(identity.log_level);
  boot.set_log_to_stderr(identity.log_to_stderr);
  return boot;
}

absl::StatusOr<std::unique_ptr<Target>> PrepareBootstrap(
    const Bootstrap& boot) {
  const std::string& target = boot.target();
  // The handles the parent passed, owned now; the ones no argument claims
  // are closed when `handles` goes.
  HandleTable handles =
      HandleTable::Inherited(std::vector<platform::NativeHandle>(
          boot.handles().begin(), boot.handles().end()));
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
  identity.identity.assign(boot.identity().begin(), boot.identity().end());
  identity.daemon = boot.daemon();
  identity.authkey = boot.authkey();
  identity.parent_pid = boot.parent_pid();
  identity.parent_name = boot.parent_name();
  identity.log_level = boot.log_level();
  identity.log_to_stderr = boot.log_to_stderr();
  BecomeChild(identity);
  return bound;
}

absl::StatusOr<platform::ChildProcess> Spawn(
    const SpawnRequest& request, const ChildIdentity& identity,
    const platform::LaunchOptions& options) {
  const Bootstrap boot = MakeBootstrap(request, identity);
  const std::vector<platform::NativeHandle>& keep = request.handles;

  absl::StatusOr<std::string> exe = SpawnExecutable();
  if (!exe.ok()) return exe.status();
  std::string random(kCookieBytes, '\0');
  if (absl::Status s = platform::RandomBytes(absl::MakeSpan(random)); !s.ok()) {
    return s;
  }
  const std::string cookie = absl::BytesToHexString(random);
  platform::LaunchOptions launch = options;
  launch.environment.push_back(absl::StrCat(kBootstrapVariable, "=", cookie,
                                            ":", platform::CurrentProcessId()));
  absl::StatusOr<std::pair<Connection, Connection>> channel = Pipe();
  if (!channel.ok()) return channel.status();
  auto& [ours, theirs] = *channel;
  std::vector<platform::NativeHandle> inherit = keep;
  inherit.push_back(theirs.fileno());
  absl::StatusOr<platform::ChildProcess> child = platform::LaunchProgram(
      {*exe, absl::StrCat(kTargetSwitch, request.target),
       absl::StrCat(kBootstrapSwitch, theirs.fileno(), ":", cookie)},
      inherit, launch);
  if (!child.ok()) return child.status();
  theirs.Close().IgnoreError();

  if (!ours.SendBytes(boot.SerializeAsString()).ok()) {
    // Most likely it is gone already; if not, it never will read it.
    platform::Kill(*child).IgnoreError();
    return ExitedBeforeAnswer(*child, request.target);
  }
  absl::StatusOr<bool> answered = ours.Poll(kSpawnAnswerTimeout);
  if (answered.ok() && !*answered) {
    platform::Kill(*child).IgnoreError();
    platform::WaitForExit(*child, std::nullopt).IgnoreError();
    return TimeoutError(
        absl::StrCat("spawned process for target ", request.target,
                     " did not answer its bootstrap message within ",
                     absl::FormatDuration(kSpawnAnswerTimeout),
                     ": does main() call mp::Init(argc, argv) first?"));
  }
  absl::StatusOr<std::string> answer =
      answered.ok() ? ours.RecvBytes() : answered.status();
  if (!answer.ok()) return ExitedBeforeAnswer(*child, request.target);
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
  // Taken whatever happens next: no program this one runs inherits it.
  const std::optional<std::string> variable =
      platform::TakeEnvironmentVariable(kBootstrapVariable);
  std::optional<std::string> target = SpawnTarget(args);
  if (!target) return;
  std::optional<platform::NativeHandle> handle =
      BootstrapHandle(args[2], variable);
  if (!handle) return;  // a look-alike command line: an ordinary run
  Connection channel(platform::ScopedHandle(*handle), /*readable=*/true,
                     /*writable=*/true);
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
  Target& work = **prepared;
  std::exit(RunChild([&] { return work.Run(); }));
}

bool SpawnedWithoutInit() {
  return !init_ran && SpawnTarget(platform::ProgramArguments()).has_value() &&
         std::getenv(kBootstrapVariable) != nullptr;
}

}  // namespace mp::process_internal

namespace mp::process_internal {
namespace {

std::mutex executable_mu;
std::string* executable = nullptr;  // guarded by executable_mu; never freed

}  // namespace

void SetSpawnExecutable(std::string path) {
  std::lock_guard<std::mutex> lock(executable_mu);
  if (executable == nullptr) executable = new std::string;
  *executable = std::move(path);
}

absl::StatusOr<std::string> SpawnExecutable() {
  {
    std::lock_guard<std::mutex> lock(executable_mu);
    if (executable != nullptr && !executable->empty()) return *executable;
  }
  return platform::ExecutablePath();
}

}  // namespace mp::process_internal
