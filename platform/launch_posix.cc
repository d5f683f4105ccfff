#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/exit_status.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/platform/poll.h"

namespace mp::platform {
namespace {

// Closes every descriptor in [first, last]. Async-signal-safe.
void CloseRange(unsigned first, unsigned last) {
  if (first > last) return;
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, first, last, 0) == 0) return;
#endif
  struct rlimit lim;
  unsigned max = 65536;
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    max = static_cast<unsigned>(std::min<rlim_t>(lim.rlim_cur, 1u << 20));
  }
  for (unsigned fd = first; fd <= last && fd < max; ++fd)
    ::close(static_cast<int>(fd));
}

// In the child: keeps 0, 1, 2 and `keep` (sorted, unique), closes the rest.
void CloseAllExcept(const std::vector<int>& keep) {
  unsigned next = 3;
  for (int fd : keep) {
    if (fd < static_cast<int>(next)) continue;
    CloseRange(next, static_cast<unsigned>(fd) - 1);
    next = static_cast<unsigned>(fd) + 1;
  }
  CloseRange(next, ~0u);
}

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  errno = ENOSYS;
  return -1;
#endif
}

absl::Status Signal(const ChildProcess& child, int sig, const char* op) {
  if (::kill(static_cast<pid_t>(child.pid), sig) != 0)
    return LastNativeError(op);
  return absl::OkStatus();
}

// The executable `name` names: itself when it has a slash, else the first
// executable of that name in PATH (or `name` unchanged, for exec to fail on).
std::string FindProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = ::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = dirs.find(':', start);
    std::string dir =
        dirs.substr(start, end == std::string::npos ? end : end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (end == std::string::npos) return name;
    start = end + 1;
  }
}

// In a child before exec: every signal not in `kept` back to its default
// action and unblocked (the kept ones stay blocked if they were in
// `old_mask`, the mask of the thread that started the child).
// Async-signal-safe.
void ResetSignals(const sigset_t& kept, const sigset_t& old_mask) {
  struct sigaction dfl;
  ::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP || sigismember(&kept, sig) == 1) {
      continue;
    }
    ::sigaction(sig, &dfl, nullptr);  // EINVAL for the C library's own: fine
  }
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sigismember(&kept, sig) == 1 && sigismember(&old_mask, sig) == 1) {
      sigaddset(&mask, sig);
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &mask, nullptr);
}

}  // namespace

bool CanFork() { return true; }

namespace {

// A new child's start: dies with its parent (unless asked not to), takes
// its standard handles, keeps `keep_fds` only, runs `child_main` and exits
// with what it returns. Async-signal-safe, and writes nothing but its own
// locals (so it may run in a vfork child).
[[noreturn]] void BeChild(pid_t parent, const std::vector<int>& keep_fds,
                          absl::FunctionRef<int()> child_main,
                          const LaunchOptions& options) {
#ifdef PR_SET_PDEATHSIG
  // If the parent died already, we were adopted: leave now.
  if (options.kill_with_parent && ::prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 &&
      ::getppid() != parent) {
    ::_exit(77);
  }
#endif
  for (std::size_t i = 0; i < options.stdio.size() && i < 3; ++i) {
    if (options.stdio[i] >= 3) {
      ::dup2(static_cast<int>(options.stdio[i]), static_cast<int>(i));
    }
  }
  CloseAllExcept(keep_fds);
  ::_exit(child_main());
}

// vfork(), with BeChild in the child: the child borrows this process's
// memory and this thread waits until it has exec'd or exited, so starting a
// program copies no page table however large this process is (posix_spawn's
// way). Every signal is blocked across it, so no handler of ours runs on
// the borrowed memory (`child_main` resets the handlers before unblocking).
// Its own function: a vfork child must never return from the function that
// called vfork(). (TSan turns vfork into fork.)
pid_t VforkChild(pid_t parent, const std::vector<int>& keep_fds,
                 absl::FunctionRef<int()> child_main,
                 const LaunchOptions& options) {
  sigset_t all, old_mask;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old_mask);
  const pid_t pid = ::vfork();
  if (pid == 0) BeChild(parent, keep_fds, child_main, options);
  const int error = errno;
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  errno = error;
  return pid;
}

// ForkAndRun, and LaunchProgram's start (`vfork`: the child only execs, see
// VforkChild).
absl::StatusOr<ChildProcess> StartChild(absl::Span<const NativeHandle> keep,
                                        absl::FunctionRef<int()> child_main,
                                        const LaunchOptions& options,
                                        bool vfork) {
  // Prepared before fork(): the child must not allocate.
  std::vector<int> keep_fds(keep.begin(), keep.end());
  // Fallback sentinel for kernels without pidfd_open: a pipe whose write end
  // only the child holds, so it reads as end-of-stream once the child exits.
  int death_pipe[2] = {-1, -1};
  static const bool have_pidfd = [] {
    int fd = PidfdOpen(::getpid());
    if (fd < 0) return false;
    ::close(fd);
    return true;
  }();
  if (!have_pidfd) {
    if (::pipe2(death_pipe, O_CLOEXEC) != 0) return LastNativeError("pipe2");
    keep_fds.push_back(death_pipe[1]);
  }
  std::sort(keep_fds.begin(), keep_fds.end());
  keep_fds.erase(std::unique(keep_fds.begin(), keep_fds.end()), keep_fds.end());

  const pid_t parent = ::getpid();
  const pid_t pid =
      vfork ? VforkChild(parent, keep_fds, child_main, options) : ::fork();
  if (pid == 0) BeChild(parent, keep_fds, child_main, options);
  if (pid < 0) {
    absl::Status s = LastNativeError(vfork ? "vfork" : "fork");
    if (death_pipe[0] >= 0) {
      ::close(death_pipe[0]);
      ::close(death_pipe[1]);
    }
    return s;
  }
  ChildProcess child;
  child.pid = pid;
  if (have_pidfd) {
    int fd = PidfdOpen(pid);  // cannot race: the child is not reaped yet
    if (fd < 0) {
      absl::Status s = LastNativeError("pidfd_open");
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      return s;
    }
    child.sentinel.reset(fd);
  } else {
    ::close(death_pipe[1]);
    child.sentinel.reset(death_pipe[0]);
  }
  return child;
}

}  // namespace

absl::StatusOr<ChildProcess> ForkAndRun(absl::Span<const NativeHandle> keep,
                                        absl::FunctionRef<int()> child_main,
                                        const LaunchOptions& options) {
  return StartChild(keep, child_main, options, /*vfork=*/false);
}

absl::StatusOr<ChildProcess> LaunchProgram(
    const std::vector<std::string>& argv,
    absl::Span<const NativeHandle> inherit, const LaunchOptions& options) {
  if (argv.empty())
    return absl::InvalidArgumentError("LaunchProgram: empty argv");
  // Everything the child touches is prepared before fork(); execvp() is not
  // async-signal-safe, so the PATH search happens here.
  const std::string path = FindProgram(argv[0]);
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The environment, when changed, is prepared here too.
  std::vector<std::string> environment;
  std::vector<char*> envp;
  if (!options.environment.empty()) {
    for (char** e = environ; *e != nullptr; ++e) {
      const absl::string_view entry(*e);
      const bool replaced =
          std::any_of(options.environment.begin(), options.environment.end(),
                      [&](const std::string& add) {
                        const std::size_t eq = add.find('=');
                        return absl::StartsWith(entry, add.substr(0, eq + 1));
                      });
      if (!replaced) environment.emplace_back(entry);
    }
    for (const std::string& add : options.environment) {
      environment.push_back(add);
    }
    for (std::string& e : environment) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
  // The signals the program keeps as they are here (the rest are reset in
  // the child, with async-signal-safe calls only).
  sigset_t kept, mask;
  sigemptyset(&kept);
  for (int sig : options.kept_signals) {
    if (sig > 0 && sig < NSIG) sigaddset(&kept, sig);
  }
  ::pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  int error_pipe[2];
  if (::pipe2(error_pipe, O_CLOEXEC) != 0) return LastNativeError("pipe2");
  // Both kinds are inherited under their numbers here (launch.h).
  std::vector<NativeHandle> given(inherit.begin(), inherit.end());
  given.insert(given.end(), options.taken_by_child.begin(),
               options.taken_by_child.end());
  std::vector<NativeHandle> keep = given;
  keep.push_back(error_pipe[1]);
  // A vfork child: only system calls and its own locals until exec.
  absl::StatusOr<ChildProcess> child = StartChild(
      keep,
      [&] {
        for (NativeHandle h : given) {
          ::fcntl(static_cast<int>(h), F_SETFD, 0);  // survive exec
        }
        ResetSignals(kept, mask);
        if (envp.empty()) {
          ::execv(path.c_str(), args.data());
        } else {
          ::execve(path.c_str(), args.data(), envp.data());
        }
        // Only reached when exec failed: tell the parent why.
        const int err = errno;
        while (::write(error_pipe[1], &err, sizeof err) < 0 && errno == EINTR) {
        }
        return 127;
      },
      options, /*vfork=*/true);
  ::close(error_pipe[1]);
  if (!child.ok()) {
    ::close(error_pipe[0]);
    return child.status();
  }
  int err = 0;
  ssize_t n;
  while ((n = ::read(error_pipe[0], &err, sizeof err)) < 0 && errno == EINTR) {
  }
  ::close(error_pipe[0]);
  if (n == 0) {  // the pipe closed on exec: the program runs
    child->inherited.assign(inherit.begin(), inherit.end());
    child->socket_infos.assign(inherit.size(), std::string());
    return child;
  }
  WaitForExit(*child, std::nullopt).IgnoreError();
  return NativeError(n == sizeof err ? err : EIO, "exec " + argv[0]);
}

absl::StatusOr<ScopedHandle> TakeHandleFromParent(ProcessId parent,
                                                  NativeHandle handle) {
  if (handle < 0 || handle > INT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("TakeHandleFromParent: ", handle, " is no descriptor"));
  }
  if (parent != ParentProcessId()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TakeHandleFromParent: process ", parent, " is not this one's parent"));
  }
  // Inherited under the same number; from now on not passed further.
  if (::fcntl(static_cast<int>(handle), F_SETFD, FD_CLOEXEC) != 0) {
    return LastNativeError("fcntl(F_SETFD)");
  }
  return ScopedHandle(handle);
}

absl::StatusOr<ScopedHandle> ImportSocket(absl::string_view) {
  return absl::UnimplementedError(
      "ImportSocket: POSIX children inherit sockets as descriptors");
}

namespace {

// WaitForExit for a process another one reaps: its exit code arrives on the
// sentinel.
absl::StatusOr<std::optional<int>> ReadExitCode(
    const ChildProcess& child, std::optional<absl::Duration> timeout) {
  NativeHandle h = child.sentinel.get();
  if (timeout) {
    absl::StatusOr<std::vector<std::size_t>> ready =
        WaitReadable({&h, 1}, timeout);
    if (!ready.ok()) return ready.status();
    if (ready->empty()) return std::nullopt;
  }
  std::int32_t code = 0;
  ssize_t n;
  while ((n = ::read(static_cast<int>(h), &code, sizeof code)) < 0 &&
         errno == EINTR) {
  }
  if (n < 0) return LastNativeError("read exit code");
  if (n == 0) return 255;  // its reaper is gone: the code is lost
  if (n != sizeof code) return absl::DataLossError("truncated exit code");
  return static_cast<int>(code);
}

}  // namespace

absl::StatusOr<std::optional<int>> WaitForExit(
    const ChildProcess& child, std::optional<absl::Duration> timeout) {
  if (child.exit_code_on_sentinel) return ReadExitCode(child, timeout);
  if (timeout) {
    NativeHandle h = child.sentinel.get();
    absl::StatusOr<std::vector<std::size_t>> ready =
        WaitReadable({&h, 1}, timeout);
    if (!ready.ok()) return ready.status();
    if (ready->empty()) return std::nullopt;
    // The pipe sentinel can report end-of-stream a moment before the exit
    // is reapable; waitpid() below then blocks for that moment.
  }
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(static_cast<pid_t>(child.pid), &status, 0);
    if (r == static_cast<pid_t>(child.pid)) return DecodeExitStatus(status);
    if (r < 0 && errno == EINTR) continue;
    return LastNativeError("waitpid");
  }
}

absl::Status Terminate(const ChildProcess& child) {
  return Signal(child, SIGTERM, "kill(SIGTERM)");
}

absl::Status Kill(const ChildProcess& child) {
  return Signal(child, SIGKILL, "kill(SIGKILL)");
}

void ExitNow(int code) { ::_exit(code); }

bool CanForkserver() {
#ifdef __linux__
  return true;
#else
  return false;
#endif
}

absl::Status SendWithHandles(NativeHandle socket, absl::string_view bytes,
                             absl::Span<const NativeHandle> handles) {
  if (bytes.size() > kMaxMessageWithHandles || bytes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SendWithHandles: a message of ", bytes.size(),
                     " bytes (1 to ", kMaxMessageWithHandles, " allowed)"));
  }
  if (handles.size() > kMaxHandlesPerMessage) {
    return absl::InvalidArgumentError(
        absl::StrCat("SendWithHandles: ", handles.size(), " handles (at most ",
                     kMaxHandlesPerMessage, ")"));
  }
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (!handles.empty()) {
    control.assign(CMSG_SPACE(sizeof(int) * handles.size()), 0);
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * handles.size());
    for (std::size_t i = 0; i < handles.size(); ++i) {
      const int fd = static_cast<int>(handles[i]);
      std::memcpy(CMSG_DATA(c) + i * sizeof fd, &fd, sizeof fd);
    }
  }
  for (;;) {
    if (::sendmsg(static_cast<int>(socket), &msg, MSG_NOSIGNAL) >= 0) {
      return absl::OkStatus();  // a seqpacket send is all or none
    }
    if (errno != EINTR) return LastNativeError("sendmsg");
  }
}

absl::StatusOr<std::optional<MessageWithHandles>> ReceiveWithHandles(
    NativeHandle socket) {
  MessageWithHandles received;
  received.bytes.resize(kMaxMessageWithHandles + 1);
  std::vector<char> control(CMSG_SPACE(sizeof(int) * kMaxHandlesPerMessage));
  iovec iov{received.bytes.data(), received.bytes.size()};
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  while ((n = ::recvmsg(static_cast<int>(socket), &msg, MSG_CMSG_CLOEXEC)) <
             0 &&
         errno == EINTR) {
  }
  if (n < 0) return LastNativeError("recvmsg");
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
       c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
      received.handles.emplace_back(fd);
    }
  }
  if (n == 0 && received.handles.empty()) return std::nullopt;  // EOF
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
      static_cast<std::size_t>(n) > kMaxMessageWithHandles) {
    return absl::DataLossError("ReceiveWithHandles: message too long");
  }
  received.bytes.resize(static_cast<std::size_t>(n));
  return received;
}

void KeptSignalState(absl::Span<const int> signals, std::vector<int>* blocked,
                     std::vector<int>* ignored) {
  blocked->clear();
  ignored->clear();
  sigset_t mask;
  sigemptyset(&mask);
  ::pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  for (int sig : signals) {
    if (sig <= 0 || sig >= NSIG) continue;
    if (sigismember(&mask, sig) == 1) blocked->push_back(sig);
    struct sigaction action;
    if (::sigaction(sig, nullptr, &action) == 0 &&
        action.sa_handler == SIG_IGN) {
      ignored->push_back(sig);
    }
  }
}

void BlockAndIgnoreSignals(absl::Span<const int> blocked,
                           absl::Span<const int> ignored) {
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : blocked) {
    if (sig > 0 && sig < NSIG) sigaddset(&mask, sig);
  }
  ::pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  for (int sig : ignored) {
    if (sig > 0 && sig < NSIG && sig != SIGKILL && sig != SIGSTOP) {
      ::signal(sig, SIG_IGN);
    }
  }
}

namespace {

// getpid() is a system call on every call (glibc stopped caching it); the
// queues ask on every operation. Forgotten in every fork child.
std::atomic<ProcessId> cached_pid{0};

void ForgetPid() { cached_pid.store(0, std::memory_order_relaxed); }

}  // namespace

ProcessId CurrentProcessId() {
  ProcessId pid = cached_pid.load(std::memory_order_relaxed);
  if (pid != 0) return pid;
  static const int registered = ::pthread_atfork(nullptr, nullptr, ForgetPid);
  (void)registered;
  pid = ::getpid();
  cached_pid.store(pid, std::memory_order_relaxed);
  return pid;
}

ProcessId ParentProcessId() { return ::getppid(); }

absl::StatusOr<std::string> ExecutablePath() {
  std::string path(4096, '\0');
  const ssize_t n = ::readlink("/proc/self/exe", path.data(), path.size());
  if (n < 0) return LastNativeError("readlink /proc/self/exe");
  path.resize(static_cast<std::size_t>(n));
  // A binary replaced or deleted since it started still runs from here.
  if (absl::EndsWith(path, " (deleted)")) return std::string("/proc/self/exe");
  return path;
}

namespace {
std::vector<std::string>* program_arguments = nullptr;

// glibc calls the functions in .init_array with main()'s arguments, before
// any C++ static initialiser of the program can ask for them.
__attribute__((constructor)) void CaptureProgramArguments(int argc, char** argv,
                                                          char**) {
  program_arguments = new std::vector<std::string>;
  for (int i = 0; i < argc && argv != nullptr && argv[i] != nullptr; ++i) {
    program_arguments->emplace_back(argv[i]);
  }
}
}  // namespace

const std::vector<std::string>& ProgramArguments() {
  static const std::vector<std::string> empty;
  return program_arguments != nullptr ? *program_arguments : empty;
}

std::optional<std::string> TakeEnvironmentVariable(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  std::string taken(value);
  ::unsetenv(name.c_str());
  return taken;
}

std::optional<int> ProcessorCount() {
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) return std::nullopt;
  return static_cast<int>(n);
}

}  // namespace mp::platform
