// mp::Process: Python's multiprocessing.Process, and the module functions
// around it (current_process, parent_process, active_children, cpu_count,
// get_context, set_start_method).
//
// A Process runs a target -- any callable -- with its arguments in a child
// process:
//
//   int Consumer(mp::Connection& receiver) {
//     for (int count = 0;; ++count) {
//       absl::StatusOr<int> item = receiver.Recv<int>();
//       if (mp::IsEof(item.status())) return count;  // the exit code
//       if (!item.ok()) return 255;
//     }
//   }
//
//   auto [receiver, sender] = mp::Pipe(/*duplex=*/false).value();
//   mp::Process consumer(Consumer, std::move(receiver));  // the child's end
//   absl::Status s = consumer.Start();  // the parent's copy is now closed
//   for (int i = 1; s.ok() && i <= 3; ++i) s = sender.Send(i);
//   sender.Close().IgnoreError();  // no sender left: the consumer sees EOF
//   if (s.ok()) s = consumer.Join();
//   // *consumer.exitcode() == 3
//
// Arguments are stored decayed (copied or moved into the Process) and handed
// to the target as lvalues, so take move-only arguments such as Connection
// by reference. std::ref(x) passes a reference instead; with fork the child
// sees its own copy of the parent's object.
//
// Handles. The child keeps stdin, stdout, stderr and the handles the codec
// meets when it encodes the arguments (a Connection or queue by value, by
// std::ref, through a pointer, or inside any encodable container or user
// type); under spawn the same encoding carries them. Every other descriptor is
// closed in the child, so an unrelated child never holds a pipe open. Handles
// captured by a lambda target, or passed as raw NativeHandle integers, are
// NOT found: pass their owners (Connections) as arguments.
// Arguments moved into the Process belong to the child: after a successful
// Start() the parent destroys its copies (closing Connections moved in),
// which is what makes end of stream reach the other side. Arguments passed
// with std::ref stay open in the parent, which closes them itself when it
// does not use them (as in Python, where both ends stay open).
//
// The target's return type gives the exit code: int (the code, which the OS
// truncates to 0..255), void (0), or absl::Status (OK: 0; an error: 1, and
// "Process <name>: <status>" on stderr, like Python's traceback). bool is
// rejected at compile time: `return true` would read as failure. An exception
// escaping the target ends the child with code 1 and "Process <name>:
// <what()>" on stderr; it never unwinds into the parent's code. mp::Exit(n)
// is Python's sys.exit(n).
//
// Start methods (Python's, see StartMethod below):
//   kFork   the child is a copy of this process made by fork(); the target
//           may be any callable, the arguments any copyable or movable
//           values. POSIX only.
//   kSpawn  the child is a fresh run of this program: main() must call
//           mp::Init(argc, argv) first, the target must be a function
//           registered with MP_REGISTER_TARGET, and the arguments must have
//           an mp::Codec (ipc/codec.h; Connection and Queue have one). No
//           fork() of a multithreaded parent, so no lock held by another
//           thread can hang the child. The only method on Windows.
// The default on Linux is kFork: it runs any C++ callable (a lambda with
// captures cannot cross an exec), starts faster (the README has the
// figures), and a C++ program that runs no threads when it starts processes
// (the common case) is not exposed to fork's hazard. CPython moved its Linux
// default away from fork because a Python process nearly always runs hidden
// threads; a program that does run threads should call
// mp::SetStartMethod(mp::StartMethod::kSpawn) or use GetContext(kSpawn), and
// one that forks from a multithreaded parent must follow the DANGER note in
// platform/launch.h.
//
// Exit: a main process that starts children runs Python's exit function at
// normal exit (std::atexit): daemonic children still running get
// Terminate(), then every child is joined. A child runs it too when its
// target returns and in mp::Exit(). A child does not outlive its parent
// unless set_dies_with_parent(false): on Linux it is killed when the parent
// dies (see platform/launch.h for the per-thread rule), on Windows by a job
// object; on other POSIX systems children become orphans, as in Python.
//
// Stdio: Start() flushes the parent's C stdio and std::cout/cerr/clog first
// (or the child would write the parent's pending output again), and the
// child flushes its own before it ends.
//
// Fork rules: see the DANGER note in platform/launch.h. In a multithreaded
// parent, the target must not take locks another thread may have held.
//
// A Process destroyed while its child runs does not wait for it; the child
// is reaped by a later Start() or ActiveChildren() once it has exited
// (Python's _cleanup()), or joined at exit.
//
// A Process object is not thread-safe (as in Python): call its methods from
// one thread at a time.
#ifndef MULTIPROCESSING_PROCESS_PROCESS_H_
#define MULTIPROCESSING_PROCESS_PROCESS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "multiprocessing/ipc/errors.h"  // IsTimeout() for Join()
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/process/target.h"  // MP_REGISTER_TARGET

namespace mp {

namespace process_internal {
class ChildRecord;  // process/registry.h
}  // namespace process_internal

// Python's start methods.
enum class StartMethod { kFork, kSpawn };

// "fork", "spawn".
const char* StartMethodName(StartMethod method);

// get_all_start_methods(): the methods this platform has, default first.
std::vector<StartMethod> GetAllStartMethods();

// get_start_method(): the default for Processes not given one.
StartMethod GetStartMethod();

// set_start_method(method, force): sets the default once. A second call
// without `force` is kFailedPrecondition ("context has already been set"),
// as is a method this platform lacks.
[[nodiscard]] absl::Status SetStartMethod(StartMethod method,
                                          bool force = false);

// set_executable(path): the program the spawn start method runs. By default
// this program (the same binary, found through /proc/self/exe); another
// program must register the same targets (MP_REGISTER_TARGET) and call
// mp::Init first. An empty path restores the default. A path that cannot be
// run makes Start() fail with the exec error (e.g. kNotFound,
// kPermissionDenied).
void SetExecutable(std::string path);

// get_executable(): what the spawn start method runs now.
[[nodiscard]] absl::StatusOr<std::string> GetExecutable();

// mp::Init(argc, argv): the first statement of main() in every program that
// uses the spawn start method (Python's `if __name__ == "__main__":`). In a
// process spawned by this library it runs the child's target and exits; in
// any other process it returns at once.
void Init(int argc, char** argv);

class Process {
 public:
  // Python's Process(target=target, args=args). Nothing runs until Start().
  template <
      typename F, typename... Args,
      typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Process>>>
  explicit Process(F&& target, Args&&... args)
      : target_(std::make_unique<process_internal::BoundTarget<
                    std::decay_t<F>, std::decay_t<Args>...>>(
            std::forward<F>(target), std::forward<Args>(args)...)),
        name_(NextName()),
        daemon_(DefaultDaemon()),
        authkey_(DefaultAuthkey()) {
    static_assert(
        std::is_invocable_v<std::decay_t<F>&,
                            process_internal::Unwrapped<std::decay_t<Args>>...>,
        "the Process target cannot be called with these arguments as "
        "lvalues (take move-only arguments by reference)");
  }

  // Move-only. A moved-from Process is inert: it behaves as a closed one.
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Does not wait for a running child (see the top of this file).
  ~Process();

  // start(): starts the child. A second call is kFailedPrecondition ("cannot
  // start a process twice"), as is a call in a daemonic process's child.
  [[nodiscard]] absl::Status Start();

  // join(timeout): waits for the child to exit and reaps it. OK once it has
  // exited; mp::IsTimeout() when `timeout` passed first (zero or negative
  // checks once). Before Start(): kFailedPrecondition.
  [[nodiscard]] absl::Status Join(
      std::optional<absl::Duration> timeout = std::nullopt);

  // is_alive(): started and not exited yet (reaps the child if it exited).
  bool IsAlive();

  // pid / ident: the child's process id; nullopt before Start().
  std::optional<std::int64_t> pid() const;
  std::optional<std::int64_t> ident() const { return pid(); }

  // exitcode: nullopt while running or before Start(); the code the child
  // exited with; -N when signal N ended it. Reaps without blocking.
  std::optional<int> exitcode();

  // terminate() / kill(): SIGTERM / SIGKILL. Before Start(): an error; after
  // the child was reaped: OK, nothing sent.
  [[nodiscard]] absl::Status Terminate();
  absl::Status Kill();

  // close(): releases the sentinel and the arguments. While the child runs:
  // kFailedPrecondition. Afterwards every method fails with
  // kFailedPrecondition ("process object is closed") and the getters return
  // nullopt. Closing twice is fine, as in Python.
  [[nodiscard]] absl::Status Close();

  // sentinel: a handle that becomes readable when the child exits (for
  // mp::Wait, as mp::Waitable(sentinel)). Owned by the Process.
  absl::StatusOr<platform::NativeHandle> sentinel() const;

  // name: "Process-N" by default (N counts the Process objects this process
  // created, from 1). Settable at any time before Close().
  const std::string& name() const { return name_; }
  absl::Status set_name(std::string name);

  // daemon: settable before Start() only; by default the creating
  // process's own flag, as in Python. A daemonic process may not start
  // children, and is terminated when its parent exits normally.
  bool daemon() const { return daemon_; }
  absl::Status set_daemon(bool daemon);

  // dies_with_parent: whether the child is killed when this process dies,
  // however it dies (SIGKILL included): true by default, so no child is left
  // behind (Linux: PR_SET_PDEATHSIG; Windows: a kill-on-close job; see
  // platform/launch.h). False: the child lives on, an orphan, as a Python
  // child does. Settable before Start(). A normal exit still runs the exit
  // function (daemonic children terminated, the others joined).
  bool dies_with_parent() const { return dies_with_parent_; }
  absl::Status set_dies_with_parent(bool dies);

  // authkey: the key the child's CurrentProcess().authkey() returns (for
  // Listener/Client); by default this process's own. Settable before Start().
  const std::string& authkey() const { return authkey_; }
  absl::Status set_authkey(std::string authkey);

  // The start method: by default GetStartMethod() at the time of Start().
  // Settable before Start() (GetContext() does it for you).
  StartMethod start_method() const;
  absl::Status set_start_method(StartMethod method);

 private:
  // "Process-N" with the next N.
  static std::string NextName();
  static bool DefaultDaemon();
  static std::string DefaultAuthkey();

  [[nodiscard]] absl::Status CheckNotStarted() const;
  absl::Status CheckStarted(const char* operation) const;
  [[nodiscard]] absl::StatusOr<platform::ChildProcess> Launch(
      StartMethod method);
  // Waits for the child (see ChildRecord::Wait); once it has exited, the
  // registry forgets it.
  [[nodiscard]] absl::StatusOr<std::optional<int>> Wait(
      std::optional<absl::Duration> timeout);
  // The exit code if the child has exited, else nullopt.
  std::optional<int> Poll();
  [[nodiscard]] absl::Status Signal(bool kill);
  // Leaves a running child to the registry and makes this object inert.
  void Abandon();

  std::optional<StartMethod> start_method_;           // nullopt: the default
  std::unique_ptr<process_internal::Target> target_;  // until Start()
  std::string name_;
  bool daemon_ = false;
  bool dies_with_parent_ = true;
  std::string authkey_;
  bool closed_ = false;
  // Set by Start(); shared with the registry until reaped.
  std::shared_ptr<process_internal::ChildRecord> child_;
};

// get_context(method): Processes made through it use `method`. Without a
// method: the default (GetStartMethod()).
class Context {
 public:
  explicit Context(StartMethod method) : method_(method) {}
  StartMethod start_method() const { return method_; }

  // ctx.Process(target, args...).
  template <typename F, typename... Args>
  mp::Process Process(F&& target, Args&&... args) const {
    mp::Process p(std::forward<F>(target), std::forward<Args>(args)...);
    p.set_start_method(method_).IgnoreError();  // cannot fail before Start()
    return p;
  }

 private:
  StartMethod method_;
};

// kFailedPrecondition for a method this platform does not have.
[[nodiscard]] absl::StatusOr<Context> GetContext(
    std::optional<StartMethod> method = std::nullopt);

// current_process(): this process as its parent named it ("MainProcess" in
// a process this library did not start). Thread-safe.
class CurrentProcessInfo {
 public:
  std::string name() const;
  void set_name(std::string name);
  std::int64_t pid() const;
  std::int64_t ident() const { return pid(); }
  bool daemon() const;
  // 32 random bytes in a main process; a child has its Process's authkey.
  std::string authkey() const;
  void set_authkey(std::string authkey);
};
CurrentProcessInfo& CurrentProcess();

// parent_process(): the process that started this one, or nullopt in a main
// process.
struct ParentProcessInfo {
  std::string name;
  std::int64_t pid = 0;
  // Whether that process still runs (this process was not adopted).
  bool IsAlive() const;
};
std::optional<ParentProcessInfo> ParentProcess();

// active_children(): the children this process started that have not been
// reaped, after reaping those that have exited (their Process objects then
// report the exit code). Python returns the Process objects; a C++ Process
// belongs to whoever created it, so this describes them.
struct ChildInfo {
  std::int64_t pid = 0;
  std::string name;
  bool daemon = false;
};
std::vector<ChildInfo> ActiveChildren();

// cpu_count(): the number of processors, or nullopt when unknown.
std::optional<int> CpuCount();

// Python's sys.exit(code) in a target: runs the exit function (daemonic
// children terminated, the others joined), flushes C stdio and the standard
// C++ streams and ends the calling process at once with `code`, without
// running destructors or atexit handlers.
[[noreturn]] void Exit(int code);

}  // namespace mp

#endif  // MULTIPROCESSING_PROCESS_PROCESS_H_
