#include "multiprocessing/process/forkserver.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/message_channel.h"
#include "multiprocessing/platform/poll.h"
#include "multiprocessing/process/bootstrap.pb.h"
#include "multiprocessing/process/current_process.h"
#include "multiprocessing/process/target.h"

namespace mp::process_internal {

int ForkserverMain(Connection& control, std::vector<std::string>& preload);

}  // namespace mp::process_internal

MP_REGISTER_TARGET(mp::process_internal::ForkserverMain);

namespace mp::process_internal {
namespace {

// The child's first message on its status socket: "R" (ready) or "E" and the
// error. Then the server's: the exit code, a native int32.
constexpr char kReady = 'R';
constexpr char kFailed = 'E';

// A preload function: takes no arguments.
void NoArguments() {}

// Runs the preload functions (a name that fails is reported and skipped,
// as Python's forkserver skips a module that does not import).
void RunPreload(const std::vector<std::string>& names) {
  std::string no_arguments;
  HandleTable none;
  BoundTarget<void (*)()> empty(&NoArguments);
  if (!empty.EncodeArguments(&no_arguments, &none).ok()) return;
  for (const std::string& name : names) {
    const RegisteredTarget* registered = FindTarget(name);
    absl::StatusOr<std::unique_ptr<Target>> bound =
        registered == nullptr
            ? absl::NotFoundError("not registered (MP_REGISTER_TARGET)")
            : registered->bind(registered->function, no_arguments, &none);
    absl::StatusOr<int> ran = bound.ok() ? (*bound)->Run() : bound.status();
    if (!ran.ok()) {
      std::fprintf(stderr, "forkserver: preload %s: %s\n", name.c_str(),
                   ran.status().ToString().c_str());
    }
  }
}

// In the forked child: becomes the child `boot` describes, says so on
// `status`, and runs its target.
int ServedChild(const Bootstrap& boot, platform::NativeHandle status) {
  platform::BlockAndIgnoreSignals(
      std::vector<int>(boot.blocked_signals().begin(),
                       boot.blocked_signals().end()),
      std::vector<int>(boot.ignored_signals().begin(),
                       boot.ignored_signals().end()));
  absl::StatusOr<std::unique_ptr<Target>> prepared = PrepareBootstrap(boot);
  std::string answer(1, prepared.ok() ? kReady : kFailed);
  if (!prepared.ok()) {
    answer += prepared.status().ToString();
    answer.resize(std::min(answer.size(), platform::kMaxInlineMessage));
  }
  const platform::ConstBuffer part{answer.data(), answer.size()};
  const bool told = platform::SendMessage(status, {&part, 1}).ok();
  platform::ScopedHandle(status).reset();  // only the server holds it now
  if (!prepared.ok()) {
    if (!told) {
      std::fprintf(stderr, "forkserver: %s\n",
                   prepared.status().ToString().c_str());
    }
    return 1;
  }
  Target& work = **prepared;
  return RunChild([&] { return work.Run(); });
}

// A child the server forked, and where its exit code goes.
struct Served {
  platform::ChildProcess child;
  platform::ScopedHandle status;
};

// Forks the child a request asks for.
absl::StatusOr<Served> Serve(platform::MessageWithHandles& request) {
  if (request.handles.empty()) {
    return absl::InvalidArgumentError("a request without a status socket");
  }
  Bootstrap boot;
  if (!boot.ParseFromString(request.bytes)) {
    return absl::DataLossError("unparsable request");
  }
  const int stdio = (boot.stdio_passed() & 1) +
                    ((boot.stdio_passed() >> 1) & 1) +
                    ((boot.stdio_passed() >> 2) & 1);
  if (static_cast<std::size_t>(boot.handles_size() + stdio) !=
      request.handles.size() - 1) {
    return absl::DataLossError("a request whose handles did not all arrive");
  }
  platform::LaunchOptions options;
  options.kill_with_parent = boot.kill_with_parent();
  // The parent's stdio, then the arguments' handles under their numbers
  // here.
  std::size_t next = 1;
  options.stdio.assign(3, platform::kInvalidHandle);
  for (int i = 0; i < 3; ++i) {
    if ((boot.stdio_passed() & (1 << i)) == 0) continue;
    if (next >= request.handles.size()) {
      return absl::DataLossError("a request whose stdio did not arrive");
    }
    options.stdio[i] = request.handles[next++].get();
  }
  boot.clear_handles();
  std::vector<platform::NativeHandle> keep;
  for (std::size_t i = next; i < request.handles.size(); ++i) {
    boot.add_handles(request.handles[i].get());
    keep.push_back(request.handles[i].get());
  }
  const platform::NativeHandle status = request.handles[0].get();
  keep.push_back(status);
  absl::StatusOr<platform::ChildProcess> child = platform::ForkAndRun(
      keep, [&] { return ServedChild(boot, status); }, options);
  if (!child.ok()) return child.status();
  // The arguments' handles close with `request`: the child has them.
  return Served{std::move(*child), std::move(request.handles[0])};
}

}  // namespace

// The server: forks a child per request until the control socket closes.
int ServeUntilEndOfStream(platform::NativeHandle socket);

int ForkserverMain(Connection& control, std::vector<std::string>& preload) {
  RunPreload(preload);
  // The server proper is a child of this process, which exits at once: the
  // parent reaps it, and the server, adopted by init (or the nearest
  // subreaper), is no child of the parent's (nothing for its waitpid(-1)
  // to see, no zombie ever).
  const platform::NativeHandle socket = control.fileno();
  platform::LaunchOptions options;
  options.kill_with_parent = false;
  absl::StatusOr<platform::ChildProcess> server = platform::ForkAndRun(
      {&socket, 1}, [&] { return ServeUntilEndOfStream(socket); }, options);
  if (!server.ok()) {
    std::fprintf(stderr, "forkserver: %s\n",
                 server.status().ToString().c_str());
    return 1;
  }
  return 0;
}

int ServeUntilEndOfStream(platform::NativeHandle socket) {
  std::vector<Served> children;
  for (;;) {
    std::vector<platform::NativeHandle> watched{socket};
    for (const Served& s : children) watched.push_back(s.child.sentinel.get());
    absl::StatusOr<std::vector<std::size_t>> ready =
        platform::WaitReadable(watched, std::nullopt);
    if (!ready.ok()) {
      std::fprintf(stderr, "forkserver: %s\n",
                   ready.status().ToString().c_str());
      return 1;
    }
    std::sort(ready->rbegin(), ready->rend());  // erase from the back
    bool request = false;
    for (std::size_t i : *ready) {
      if (i == 0) {
        request = true;
        continue;
      }
      Served& s = children[i - 1];
      absl::StatusOr<std::optional<int>> code =
          platform::WaitForExit(s.child, std::nullopt);
      const std::int32_t value = code.ok() && code->has_value() ? **code : 255;
      const platform::ConstBuffer part{&value, sizeof value};
      // Nobody listens any more when the Process was dropped: fine.
      platform::SendMessage(s.status.get(), {&part, 1}).IgnoreError();
      children.erase(children.begin() + static_cast<std::ptrdiff_t>(i - 1));
    }
    if (!request) continue;
    absl::StatusOr<std::optional<platform::MessageWithHandles>> received =
        platform::ReceiveWithHandles(socket);
    if (!received.ok()) {
      std::fprintf(stderr, "forkserver: %s\n",
                   received.status().ToString().c_str());
      return 1;
    }
    if (!received->has_value()) break;  // our parent is gone
    absl::StatusOr<Served> served = Serve(**received);
    std::string reply;
    if (served.ok()) {
      reply = absl::StrCat("P", served->child.pid);
      children.push_back(std::move(*served));
    } else {
      reply = absl::StrCat("E", served.status().ToString());
    }
    platform::SendWithHandles(socket, reply, {}).IgnoreError();
  }
  // Children still running are left to whoever adopts them (or die with
  // this process, when they were asked to).
  return 0;
}

namespace {

// This process's server.
struct Server {
  std::mutex mu;
  // The process these handles belong to (a fork child inherits the numbers,
  // already closed, and starts its own server).
  platform::ProcessId owner ABSL_GUARDED_BY(mu) = 0;
  platform::ScopedHandle control ABSL_GUARDED_BY(mu);
  std::vector<std::string> preload ABSL_GUARDED_BY(mu);
};

Server& GetServer() {
  static Server* const server = new Server;
  return *server;
}

void ForgetServerLocked(Server& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
  s.control.reset();
}

// The control socket of a running server, started now if need be.
absl::StatusOr<platform::NativeHandle> ControlLocked(Server& s)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
  const platform::ProcessId self = platform::CurrentProcessId();
  if (s.owner != self) {  // inherited by fork: not ours, closed already
    s.control.release();
    s.owner = self;
  }
  if (s.control.is_valid()) return s.control.get();
  absl::StatusOr<platform::ChannelPair> channel =
      platform::CreateMessageChannel();
  if (!channel.ok()) return channel.status();
  SpawnRequest request;
  HandleTable handles;
  {
    BoundTarget<int (*)(Connection&, std::vector<std::string>&), Connection,
                std::vector<std::string>>
        main(&ForkserverMain,
             Connection(std::move(channel->second), /*readable=*/true,
                        /*writable=*/true),
             s.preload);
    if (absl::Status st = main.EncodeArguments(&request.arguments, &handles);
        !st.ok()) {
      return st;
    }
    const RegisteredTarget* registered = FindTarget(main.function());
    if (registered == nullptr) {
      return absl::InternalError("the forkserver's target is not registered");
    }
    request.target = registered->name;
    request.handles = handles.handles();
    const ChildIdentity identity = IdentityForChild(
        "ForkServerProcess", {}, /*daemon=*/false, CurrentProcess().authkey());
    platform::LaunchOptions options;
    // It ends when our end of the control socket closes, whichever thread
    // started it (PR_SET_PDEATHSIG would kill it with that thread).
    options.kill_with_parent = false;
    absl::StatusOr<platform::ChildProcess> server =
        Spawn(request, identity, options);
    if (!server.ok()) return server.status();
    // It forks the server proper and exits.
    absl::StatusOr<std::optional<int>> code =
        platform::WaitForExit(*server, std::nullopt);
    if (!code.ok()) return code.status();
    if (**code != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the forkserver could not start (exit code ", **code, ")"));
    }
  }  // closes our copy of the server's end
  s.control = std::move(channel->first);
  return s.control.get();
}

}  // namespace

absl::Status SetForkserverPreload(std::vector<std::string> names) {
  for (const std::string& name : names) {
    if (FindTarget(name) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("forkserver preload: ", name,
                       " is not a registered function (MP_REGISTER_TARGET)"));
    }
  }
  Server& s = GetServer();
  std::lock_guard<std::mutex> lock(s.mu);
  s.preload = std::move(names);
  return absl::OkStatus();
}

absl::StatusOr<platform::ChildProcess> ForkserverStart(
    const SpawnRequest& request, const ChildIdentity& identity,
    const platform::LaunchOptions& options) {
  Bootstrap boot = MakeBootstrap(request, identity);
  boot.set_kill_with_parent(options.kill_with_parent);
  std::vector<int> blocked, ignored;
  platform::KeptSignalState(options.kept_signals, &blocked, &ignored);
  for (int sig : blocked) boot.add_blocked_signals(sig);
  for (int sig : ignored) boot.add_ignored_signals(sig);
  // The child's sentinel: its answer, then its exit code, arrive on `first`.
  absl::StatusOr<platform::ChannelPair> status =
      platform::CreateMessageChannel();
  if (!status.ok()) return status.status();
  std::vector<platform::NativeHandle> passed{status->second.get()};
  // The child writes where this process's stdio goes now, as a forked or
  // spawned child does (not where the server's went).
  int stdio_passed = 0;
  for (platform::NativeHandle h = 0; h < 3; ++h) {
    if (!platform::IsInheritable(h).ok()) continue;  // closed here
    stdio_passed |= 1 << h;
    passed.push_back(h);
  }
  passed.insert(passed.end(), request.handles.begin(), request.handles.end());

  boot.set_stdio_passed(stdio_passed);
  const std::string bytes = boot.SerializeAsString();
  std::optional<platform::MessageWithHandles> reply;
  {
    Server& s = GetServer();
    std::lock_guard<std::mutex> lock(s.mu);
    absl::StatusOr<platform::NativeHandle> control = ControlLocked(s);
    if (!control.ok()) return control.status();
    absl::Status sent = platform::SendWithHandles(*control, bytes, passed);
    if (!sent.ok() && sent.code() != absl::StatusCode::kInvalidArgument) {
      // The server died (killed, say): start another, once.
      ForgetServerLocked(s);
      control = ControlLocked(s);
      if (!control.ok()) return control.status();
      sent = platform::SendWithHandles(*control, bytes, passed);
    }
    if (!sent.ok()) {
      if (sent.code() != absl::StatusCode::kInvalidArgument) {
        ForgetServerLocked(s);
      }
      return sent;
    }
    absl::StatusOr<std::optional<platform::MessageWithHandles>> received =
        platform::ReceiveWithHandles(*control);
    if (!received.ok() || !received->has_value()) {
      ForgetServerLocked(s);
      return absl::UnavailableError("the forkserver exited before it answered");
    }
    reply = std::move(**received);
  }
  status->second.reset();  // the server and the child hold it now
  const absl::string_view text = reply->bytes;
  std::int64_t pid = 0;
  if (text.empty() || text[0] != 'P' ||
      !absl::SimpleAtoi(text.substr(1), &pid) || pid <= 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the forkserver could not fork: ",
        text.empty() ? absl::string_view("no reason") : text.substr(1)));
  }
  platform::ChildProcess child;
  child.pid = pid;
  child.sentinel = std::move(status->first);
  child.exit_code_on_sentinel = true;

  std::string answer(platform::kMaxInlineMessage, '\0');
  absl::StatusOr<std::optional<platform::ReceivedMessage>> got =
      platform::ReceiveMessage(child.sentinel.get(), absl::MakeSpan(answer),
                               absl::Now() + kSpawnAnswerTimeout);
  if (got.ok() && !got->has_value()) {
    platform::Kill(child).IgnoreError();
    return TimeoutError(absl::StrCat(
        "forkserver child for target ", request.target,
        " did not answer within ", absl::FormatDuration(kSpawnAnswerTimeout)));
  }
  if (!got.ok() || (*got)->size == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("forkserver child for target ", request.target,
                     " exited before it decoded its arguments"));
  }
  answer.resize((*got)->size);
  if (answer[0] != kReady) {
    // It exits 1; the server reaps it.
    return absl::InvalidArgumentError(
        absl::StrCat("forkserver process could not start: ", answer.substr(1)));
  }
  return child;
}

}  // namespace mp::process_internal
