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
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/platform/poll.h"
#include "multiprocessing/process/bootstrap.pb.h"
#include "multiprocessing/process/child.h"
#include "multiprocessing/process/target.h"

namespace mp::process_internal {
namespace {

// A spawned child's command line is the parent's own (its executable, then
// the arguments the parent's main() got), so flags parse the same in both;
// what makes it a spawned child is MP_SPAWN_BOOTSTRAP=<handle>:<parent pid>
// in its environment, which mp::Init removes. Without it, or with one that
// does not hold (below), a run is an ordinary run of main().
constexpr char kBootstrapVariable[] = "MP_SPAWN_BOOTSTRAP";

std::atomic<bool> init_ran{false};

// What the child says first, once it has its own handle of the bootstrap
// channel (so the parent may close the one it kept for it).
constexpr char kHaveChannel[] = "mp-spawn: have channel";

// The bootstrap channel, when everything says the parent that launched this
// process spawned it: this process's parent is the one the variable names,
// and the handle (taken from that parent: platform::TakeHandleFromParent) is
// a duplex channel that parent made (so neither a forged variable nor one
// inherited by a grandchild can point Init at a descriptor of someone's
// choosing). nullopt otherwise.
std::optional<platform::ScopedHandle> BootstrapHandle(
    const std::optional<std::string>& variable) {
  if (!variable) return std::nullopt;
  const std::vector<absl::string_view> parts = absl::StrSplit(*variable, ':');
  int64_t handle = -1, parent = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &handle) || handle < 0 ||
      !absl::SimpleAtoi(parts[1], &parent) ||
      platform::ParentProcessId() != parent) {
    return std::nullopt;
  }
  absl::StatusOr<platform::ScopedHandle> h = platform::TakeHandleFromParent(
      parent, static_cast<platform::NativeHandle>(handle));
  if (!h.ok()) return std::nullopt;
  absl::StatusOr<int64_t> creator = platform::DuplexChannelCreator(h->get());
  if (!creator.ok() || (*creator != 0 && *creator != parent)) {
    return std::nullopt;  // closes our copy
  }
  return std::move(*h);
}

// Waits until `channel` has a message or `child` has exited (whichever
// comes first; the message when both), for at most `timeout`. True: a
// message (or end of stream) is there; false: the child exited; a timeout
// status when neither happened in time.
absl::StatusOr<bool> WaitForAnswer(Connection& channel,
                                   const platform::ChildProcess& child,
                                   absl::Duration timeout) {
  // Received ahead with an earlier message (the child does not send that
  // way today; a readable handle would not tell).
  if (channel.bytes_received_ahead() > 0) return true;
  const platform::NativeHandle handles[] = {channel.fileno(),
                                            child.sentinel.get()};
  absl::StatusOr<std::vector<std::size_t>> ready =
      platform::WaitReadable(handles, timeout);
  if (!ready.ok()) return ready.status();
  if (ready->empty()) return TimeoutError("no answer");
  if (ready->front() == 0) return true;
  // The child is gone; an answer it sent just before still counts.
  absl::StatusOr<bool> last = channel.Poll(absl::ZeroDuration());
  return last.ok() && *last;
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
absl::StatusOr<std::unique_ptr<Target>> Prepare(Connection& channel) {
  absl::StatusOr<std::string> bytes = channel.RecvBytes();
  if (!bytes.ok()) return bytes.status();
  Bootstrap boot;
  if (!boot.ParseFromString(*bytes)) {
    return absl::DataLossError("spawn: unparsable bootstrap message");
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
  // are closed when `handles` goes. Sockets the parent shared (Windows) are
  // made into ours first.
  std::vector<platform::NativeHandle> numbers(boot.handles().begin(),
                                              boot.handles().end());
  absl::Status imported;
  for (int i = 0;
       i < boot.socket_infos_size() && i < static_cast<int>(numbers.size());
       ++i) {
    if (boot.socket_infos(i).empty()) continue;
    absl::StatusOr<platform::ScopedHandle> socket =
        platform::ImportSocket(boot.socket_infos(i));
    if (socket.ok()) {
      numbers[i] = socket->release();
    } else if (imported.ok()) {
      imported = socket.status();
    }
  }
  HandleTable handles = HandleTable::Inherited(std::move(numbers));
  if (!imported.ok()) {
    return absl::Status(
        imported.code(),
        absl::StrCat("a socket passed to target ", target,
                     " could not be made: ", imported.message()));
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
  identity.identity.assign(boot.identity().begin(), boot.identity().end());
  identity.daemon = boot.daemon();
  identity.authkey = boot.authkey();
  identity.parent_pid = boot.parent_pid();
  identity.parent_name = boot.parent_name();
  identity.log_level = boot.log_level();
  identity.log_to_stderr = boot.log_to_stderr();
  BecomeChild(std::move(identity));
  return bound;
}

absl::StatusOr<platform::ChildProcess> Spawn(
    const SpawnRequest& request, const ChildIdentity& identity,
    const platform::LaunchOptions& options) {
  absl::StatusOr<std::string> exe = SpawnExecutable();
  if (!exe.ok()) return exe.status();
  absl::StatusOr<std::pair<Connection, Connection>> channel = Pipe();
  if (!channel.ok()) return channel.status();
  auto& [ours, theirs] = *channel;
  // The child takes `theirs` from us itself (launch.h: taken_by_child); the
  // request's handles it is given, under values LaunchProgram returns.
  platform::LaunchOptions launch = options;
  launch.environment.push_back(absl::StrCat(kBootstrapVariable, "=",
                                            theirs.fileno(), ":",
                                            platform::CurrentProcessId()));
  launch.taken_by_child.push_back(theirs.fileno());
  // The parent's own arguments after argv[0], as Python's spawn gives the
  // child the parent's sys.argv.
  std::vector<std::string> args = platform::ProgramArguments();
  if (args.empty()) args.emplace_back();
  args[0] = *exe;
  absl::StatusOr<platform::ChildProcess> child =
      platform::LaunchProgram(args, request.handles, launch);
  if (!child.ok()) return child.status();

  // A child whose main() never calls mp::Init never answers; one that dies
  // first is seen at once (its process handle), not after the timeout: we
  // still hold the other end of the channel, so no end of stream comes.
  auto no_answer = [&](const absl::Status& waited) -> absl::Status {
    if (IsTimeout(waited)) {
      platform::Kill(*child).IgnoreError();
      platform::WaitForExit(*child, std::nullopt).IgnoreError();
      return TimeoutError(
          absl::StrCat("spawned process for target ", request.target,
                       " did not answer its bootstrap message within ",
                       absl::FormatDuration(kSpawnAnswerTimeout),
                       ": does main() call mp::Init(argc, argv) first?"));
    }
    return ExitedBeforeAnswer(*child, request.target);
  };
  absl::StatusOr<bool> hello = WaitForAnswer(ours, *child, kSpawnAnswerTimeout);
  if (!hello.ok()) return no_answer(hello.status());
  absl::StatusOr<std::string> have =
      *hello ? ours.RecvBytes() : absl::UnavailableError("exited");
  if (!have.ok() || *have != kHaveChannel) {
    return no_answer(have.ok() ? absl::DataLossError("unexpected message")
                               : have.status());
  }
  // The child has its own handle of the channel now: ours of its end goes,
  // and a child that dies from here on ends the stream.
  theirs.Close().IgnoreError();

  SpawnRequest sent = request;
  sent.handles = child->inherited;
  Bootstrap boot = MakeBootstrap(sent, identity);
  for (const std::string& info : child->socket_infos) {
    boot.add_socket_infos(info);
  }
  if (!ours.SendBytes(boot.SerializeAsString()).ok()) {
    // Most likely it is gone already; if not, it never will read it.
    platform::Kill(*child).IgnoreError();
    return ExitedBeforeAnswer(*child, request.target);
  }
  absl::StatusOr<bool> answered =
      WaitForAnswer(ours, *child, kSpawnAnswerTimeout);
  if (!answered.ok()) return no_answer(answered.status());
  absl::StatusOr<std::string> answer =
      *answered ? ours.RecvBytes() : absl::UnavailableError("exited");
  if (!answer.ok()) return ExitedBeforeAnswer(*child, request.target);
  if (!answer->empty()) {
    platform::WaitForExit(*child, std::nullopt).IgnoreError();
    return absl::InvalidArgumentError(
        absl::StrCat("spawned process could not start: ", *answer));
  }
  return child;
}

void RunIfSpawned() {
  init_ran = true;
  // Taken whatever happens next: no program this one runs inherits it.
  std::optional<platform::ScopedHandle> handle =
      BootstrapHandle(platform::TakeEnvironmentVariable(kBootstrapVariable));
  if (!handle) return;  // not spawned, or a look-alike: an ordinary run
  Connection channel(std::move(*handle), /*readable=*/true,
                     /*writable=*/true);
  // The parent closes its copy of our end once it reads this.
  absl::StatusOr<std::unique_ptr<Target>> prepared =
      channel.SendBytes(kHaveChannel).ok()
          ? Prepare(channel)
          : absl::UnavailableError("the parent closed the bootstrap channel");
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
  return !init_ran && std::getenv(kBootstrapVariable) != nullptr;
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
