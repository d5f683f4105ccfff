// Starting child processes, waiting for them, and ending them.
//
// DANGER (fork): in a process that runs more than one thread, the child of
// fork() is a copy of the calling thread only. Locks other threads held stay
// locked forever in the child, so between fork() and the child's code this
// layer calls only async-signal-safe functions (close_range, _exit), and a
// target run in a fork child of a multithreaded parent must not take locks
// another thread might have held: no malloc-heavy library that locks, no
// logging that locks. This is Python's fork start method rule too; the spawn
// start method does not have it.
#ifndef MULTIPROCESSING_PLATFORM_LAUNCH_H_
#define MULTIPROCESSING_PLATFORM_LAUNCH_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "multiprocessing/platform/handle.h"

namespace mp::platform {

using ProcessId = std::int64_t;

struct ChildProcess {
  ProcessId pid = 0;
  // Becomes readable when the child has exited (a pidfd on Linux 5.3+, else
  // the read end of a pipe only the child holds).
  ScopedHandle sentinel;
  // False for a child of this process. True for a process another one
  // started for us and reaps (the forkserver's children, POSIX only): it
  // cannot be waited for with waitpid(), so `sentinel` is a socket on which
  // its reaper writes the exit code (a native int32, Python's convention)
  // once it has exited; end of stream without one (its reaper died) reads
  // as exit code 255, as in CPython.
  bool exit_code_on_sentinel = false;
  // LaunchProgram only: the child's own values of the handles `inherit`
  // named, in the same order, which the parent has to tell the child (a
  // message, a bootstrap). POSIX: the same numbers. Windows: the handles the
  // system chose when they were duplicated into the child.
  std::vector<NativeHandle> inherited;
  // LaunchProgram only, parallel to `inherited`: empty, except on Windows for
  // a socket, which cannot be duplicated into another process: its
  // `inherited` entry is kInvalidHandle and this holds what WSADuplicateSocket
  // made for the child (a WSAPROTOCOL_INFOW), which the child turns into its
  // own socket with ImportSocket.
  std::vector<std::string> socket_infos;
};

// Whether this platform can fork (false on Windows).
bool CanFork();

struct LaunchOptions {
  // Whether the child dies when this process does, however it ends (see
  // ForkAndRun). False: it lives on, an orphan, as Python's children do.
  bool kill_with_parent = true;
  // LaunchProgram only: "NAME=value" entries the child's environment gets
  // besides (or instead of a same-named one) this process's.
  std::vector<std::string> environment;
  // LaunchProgram only, POSIX only (ignored on Windows, which has no
  // signals): the program starts with every signal unblocked and at its
  // default action, as libuv and Chromium start theirs, except the signals
  // listed here, which keep this process's blocked bit and, when ignored,
  // stay ignored. (A handler cannot survive exec: a handled signal starts at
  // its default action anyway.) ForkAndRun's child keeps the parent's mask
  // and dispositions, as a fork does.
  std::vector<int> kept_signals;
  // ForkAndRun only, POSIX only: empty, or three handles that become the
  // child's stdin, stdout and stderr (kInvalidHandle: that one is
  // inherited). Each must be 3 or above.
  std::vector<NativeHandle> stdio;
  // LaunchProgram only: handles the child takes from this process itself
  // with TakeHandleFromParent (a value on its command line or in its
  // environment names them), CPython's answer for its bootstrap pipe. POSIX:
  // inherited under the same numbers, as `inherit`. Windows: the child is
  // not given them; it duplicates them out of this process, which must keep
  // them open until the child has its copy (or has died).
  std::vector<NativeHandle> taken_by_child;
};

// Forks. The child closes every descriptor except stdin, stdout, stderr and
// the ones in `keep`, runs `child_main` and _exit()s with what it returns.
// Returns in the parent only.
//
// Children of ForkAndRun and LaunchProgram do not outlive their parent
// unless `options` says so (kill_with_parent = false): on Linux the child is
// killed (SIGKILL, through PR_SET_PDEATHSIG, which survives exec) when its
// parent dies, and a parent that died before the child armed this is caught by
// comparing getppid() with the parent's pid taken before fork. Linux's rule is
// per thread: the signal comes when the *thread* that started the child ends,
// so start long-lived children from a long-lived thread. Other POSIX systems
// have no such call and children become orphans, as in Python; Windows puts
// children in a job object that is closed with the parent.
[[nodiscard]] absl::StatusOr<ChildProcess> ForkAndRun(
    absl::Span<const NativeHandle> keep, absl::FunctionRef<int()> child_main,
    const LaunchOptions& options = {});

// Runs the program `argv[0]` (searched in PATH when it has no slash) with
// `argv`, as a new process that gets exactly stdin, stdout, stderr, the
// handles in `inherit` and those in `options.taken_by_child`. None of this
// process's handles is ever made inheritable for it, so a program another
// thread starts meanwhile gets none of them.
//
// POSIX: the child inherits `inherit` and `taken_by_child` under the same
// numbers (close-on-exec cleared in the child only, between fork and exec);
// stdin, stdout and stderr are descriptors 0, 1, 2 as they are here. When
// the program cannot be started the error reaches the caller as a Status
// (through a close-on-exec pipe), not as a mysterious exit code.
//
// Windows: the child is created suspended without inheriting anything
// (bInheritHandles FALSE), put in the job that kills it with this process
// (unless options.kill_with_parent is false), given a duplicate of each
// handle of `inherit` (DuplicateHandle into it: the returned
// ChildProcess::inherited holds the child's values, which differ from ours,
// so the caller has to send them; a value on the command line would be
// wrong), and only then resumed. `taken_by_child` are not given (see
// LaunchOptions). A socket in `inherit` is not duplicated (Winsock forbids
// DuplicateHandle on sockets) but shared with WSADuplicateSocket: see
// ChildProcess::socket_infos; a socket in `taken_by_child` is refused
// (kInvalidArgument). Standard
// handles are not passed as handles: a console program started from a
// console program attaches to its console, and Windows gives it this
// process's standard handles (console handles, or duplicates of redirected
// ones: files and pipes); a GUI program, or a parent without a console and
// with redirected stdio on Windows before 8, may have none. If the job
// cannot be joined (Windows 7 in a job: no nesting) or the child cannot be
// resumed, the child is terminated and the error returned.
[[nodiscard]] absl::StatusOr<ChildProcess> LaunchProgram(
    const std::vector<std::string>& argv,
    absl::Span<const NativeHandle> inherit, const LaunchOptions& options = {});

// Waits for the child to exit and reaps it. Returns its exit code (Python's
// convention: -N for signal N), or nullopt when `timeout` passed first.
// `timeout`: nullopt waits forever; zero or negative checks once.
[[nodiscard]] absl::StatusOr<std::optional<int>> WaitForExit(
    const ChildProcess& child, std::optional<absl::Duration> timeout);

// Child side of LaunchOptions::taken_by_child: this process's own handle of
// what its parent `parent` (this process's parent, as ParentProcessId()
// says) holds as `handle`, owned by the caller and not inheritable. POSIX:
// the inherited descriptor itself (made close-on-exec), after checking it
// is open. Windows: a duplicate made with OpenProcess(PROCESS_DUP_HANDLE) on
// the parent and DuplicateHandle; fails if the process with that id started
// after this one (the parent died and its id was reused). The parent's copy
// is left alone: the parent closes it once the child said it has its own.
[[nodiscard]] absl::StatusOr<ScopedHandle> TakeHandleFromParent(
    ProcessId parent, NativeHandle handle);

// Child side of ChildProcess::socket_infos (Windows): the socket its parent
// shared with this process (WSASocketW with FROM_PROTOCOL_INFO), overlapped
// and not inheritable, owned by the caller. POSIX: kUnimplemented (sockets
// are inherited as any descriptor there).
[[nodiscard]] absl::StatusOr<ScopedHandle> ImportSocket(
    absl::string_view socket_info);

// Asks the child to stop (SIGTERM on POSIX).
[[nodiscard]] absl::Status Terminate(const ChildProcess& child);

// Stops the child at once (SIGKILL on POSIX).
[[nodiscard]] absl::Status Kill(const ChildProcess& child);

// Exits the calling process at once, without running atexit handlers or
// static destructors, and without flushing C stdio.
[[noreturn]] void ExitNow(int code);

// This process's id (cached; forgotten in fork() children).
ProcessId CurrentProcessId();

// The id of this process's parent (after the parent died: whoever adopted
// this process).
ProcessId ParentProcessId();

// The path that re-executes this program (/proc/self/exe's target on Linux).
[[nodiscard]] absl::StatusOr<std::string> ExecutablePath();

// The command line this program was started with, read before main() ran
// (so code that runs before main() can look for a switch).
const std::vector<std::string>& ProgramArguments();

// The value of environment variable `name`, which is then removed from this
// process's environment (the programs it starts do not see it); nullopt
// when it is not set.
std::optional<std::string> TakeEnvironmentVariable(const std::string& name);

// The forkserver start method's plumbing (POSIX; Windows has no forkserver:
// CanForkserver() is false there and the functions below fail with
// kUnimplemented or do nothing).

// Whether the forkserver start method is offered here (Linux, as Python).
bool CanForkserver();

// A message and the handles that travel with it (SCM_RIGHTS), on a
// SOCK_SEQPACKET socket (CreateMessageChannel): at most
// kMaxMessageWithHandles bytes and kMaxHandlesPerMessage handles.
inline constexpr std::size_t kMaxMessageWithHandles = 128 * 1024;
inline constexpr std::size_t kMaxHandlesPerMessage = 250;
struct MessageWithHandles {
  std::string bytes;
  std::vector<ScopedHandle> handles;  // close-on-exec
};
[[nodiscard]] absl::Status SendWithHandles(
    NativeHandle socket, absl::string_view bytes,
    absl::Span<const NativeHandle> handles);
// Blocks for the next message; nullopt at end of stream (the peer closed).
[[nodiscard]] absl::StatusOr<std::optional<MessageWithHandles>>
ReceiveWithHandles(NativeHandle socket);

// Which of `signals` the calling thread blocks, and which this process
// ignores (what a forkserver child must re-create: LaunchOptions's
// kept_signals for a process that is not forked from this one).
void KeptSignalState(absl::Span<const int> signals, std::vector<int>* blocked,
                     std::vector<int>* ignored);
// Blocks `blocked` in the calling thread and ignores `ignored`.
void BlockAndIgnoreSignals(absl::Span<const int> blocked,
                           absl::Span<const int> ignored);

// The number of processors (os.cpu_count()), or nullopt when unknown.
std::optional<int> ProcessorCount();

}  // namespace mp::platform

#endif  // MULTIPROCESSING_PLATFORM_LAUNCH_H_
